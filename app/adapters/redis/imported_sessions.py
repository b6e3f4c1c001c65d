"""Imported sessions stored as the service's own (``ImportedSessions``).

Each is written in the layout of ``app.adapters.redis.session_scripts``: a
session hash named by ``sha256(id)`` (so only the digest of the old id is
kept, as for every session) with ``origin`` ``go`` and a user agent that says
it was imported, and an entry in the user's ``user-sessions`` index, so GetMe,
ListSessions, Logout and every revocation treat it like any other. It ends
when the old service would have ended it (its key's remaining time), never
later than ``absolute_lifetime_seconds`` from the import, and, like any
session, after ``ttl_seconds`` unused.

A marker ``imported-session:<sha256(id)>`` holds the session's user id and
lives as long as the session could: an import run again skips a session it
adopted before, so one that was logged out or revoked meanwhile never comes
back, and on a Redis Cluster it is how a session is found from its old id
(which, unlike the service's own, names no user). The marker is in a slot of
its own, so it is written after the session: an import stopped in between
adopts that session again on its next run.
"""

from __future__ import annotations

import json

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.adapters.redis.script_clock import NOW_MS
from app.adapters.redis.session_keys import SessionKeys
from app.adapters.redis.sessions import digest_of
from app.domain.importing import IMPORTED_SESSION_AGENT, SourceSession
from app.domain.sessions import new_session_handle

# KEYS: session, index. Writes the session and indexes it; returns its expiry (ms).
_ADOPT = (
    NOW_MS
    + """
local p = cjson.decode(ARGV[1])
local expires_at = now + p.lifetime_ms
redis.call('HSET', KEYS[1], 'user_id', p.user_id, 'created_at', now, 'last_seen', now,
    'expires_at', expires_at, 'epoch', p.epoch, 'handle', p.handle,
    'address', '', 'user_agent', p.user_agent, 'origin', 'go')
redis.call('PEXPIREAT', KEYS[1], math.min(now + p.idle_ttl * 1000, expires_at))
redis.call('ZADD', KEYS[2], now, p.digest)
if redis.call('PTTL', KEYS[2]) < p.lifetime_ms then
    redis.call('PEXPIREAT', KEYS[2], expires_at)
end
return expires_at
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
        cluster: bool = False,
    ) -> None:
        self._redis = redis
        self._keys = SessionKeys(key_prefix, cluster=cluster)
        self._ttl = ttl_seconds
        self._lifetime = absolute_lifetime_seconds
        self._adopt = redis.register_script(_ADOPT)

    async def adopt(self, session: SourceSession, sessions_epoch: int) -> bool:
        lifetime: float = self._lifetime
        if session.remaining_seconds is not None:
            lifetime = min(lifetime, session.remaining_seconds)
        digest = digest_of(session.session_id)
        user_id = session.user_id
        marker = self._keys.imported(digest)
        parameters = {
            "lifetime_ms": max(1, int(lifetime * 1000)),
            "idle_ttl": self._ttl,
            "user_id": str(user_id),
            "epoch": sessions_epoch,
            "handle": new_session_handle(),
            "user_agent": IMPORTED_SESSION_AGENT,
            "digest": digest,
        }
        with redis_errors():
            if await self._redis.exists(marker):
                return False
            keys = [self._keys.session(user_id, digest), self._keys.index(user_id)]
            expires_at = int(await self._adopt(keys=keys, args=[json.dumps(parameters)]))
            await self._redis.set(marker, str(user_id), pxat=expires_at)
        return True
