"""Imported sessions stored as the service's own (``ImportedSessions``).

Each is written in the layout of ``app.adapters.redis.session_scripts``: a
``session:<sha256(id)>`` hash (so only the digest of the old id is kept, as
for every session) with ``origin`` ``go`` and a user agent that says it was
imported, and an entry in the user's ``user-sessions`` index, so GetMe,
ListSessions, Logout and every revocation treat it like any other. It ends
when the old service would have ended it (its key's remaining time), never
later than ``absolute_lifetime_seconds`` from the import, and, like any
session, after ``ttl_seconds`` unused.

A marker ``imported-session:<sha256(id)>`` lives as long as the session
could: an import run again skips a session it adopted before, so one that
was logged out or revoked meanwhile never comes back.
"""

from __future__ import annotations

import json

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.adapters.redis.script_clock import NOW_MS
from app.adapters.redis.session_keys import session_key, user_sessions_key
from app.adapters.redis.sessions import digest_of
from app.domain.importing import IMPORTED_SESSION_AGENT, SourceSession
from app.domain.sessions import new_session_handle

# KEYS: session, index, marker. 1 if adopted, 0 if adopted before.
_ADOPT = (
    NOW_MS
    + """
local p = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then
    return 0
end
local expires_at = now + p.lifetime_ms
redis.call('HSET', KEYS[1], 'user_id', p.user_id, 'created_at', now, 'last_seen', now,
    'expires_at', expires_at, 'epoch', p.epoch, 'handle', p.handle,
    'address', '', 'user_agent', p.user_agent, 'origin', 'go')
redis.call('PEXPIREAT', KEYS[1], math.min(now + p.idle_ttl * 1000, expires_at))
redis.call('ZADD', KEYS[2], now, p.digest)
if redis.call('PTTL', KEYS[2]) < p.lifetime_ms then
    redis.call('PEXPIREAT', KEYS[2], expires_at)
end
redis.call('SET', KEYS[3], '1', 'PXAT', expires_at)
return 1
"""
)


class ImportedSessionRedis:
    """Satisfies ``ImportedSessions`` in the service's Redis, under its key prefix."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        key_prefix: str,
        ttl_seconds: int,
        absolute_lifetime_seconds: int,
    ) -> None:
        self._prefix = key_prefix
        self._ttl = ttl_seconds
        self._lifetime = absolute_lifetime_seconds
        self._adopt = redis.register_script(_ADOPT)

    async def adopt(self, session: SourceSession, sessions_epoch: int) -> bool:
        lifetime: float = self._lifetime
        if session.remaining_seconds is not None:
            lifetime = min(lifetime, session.remaining_seconds)
        digest = digest_of(session.session_id)
        keys = [
            session_key(self._prefix, digest),
            user_sessions_key(self._prefix, session.user_id),
            f"{self._prefix}imported-session:{digest}",
        ]
        parameters = {
            "lifetime_ms": max(1, int(lifetime * 1000)),
            "idle_ttl": self._ttl,
            "user_id": str(session.user_id),
            "epoch": sessions_epoch,
            "handle": new_session_handle(),
            "user_agent": IMPORTED_SESSION_AGENT,
            "digest": digest,
        }
        with redis_errors():
            return bool(await self._adopt(keys=keys, args=[json.dumps(parameters)]))
