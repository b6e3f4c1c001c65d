"""SessionRedisRepository: sessions in Redis, keyed by a digest of their id."""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

from app.adapters.redis.errors import redis_errors
from app.adapters.redis.streams import encode_event
from app.adapters.redis.user_json import decode_user, encode_user
from app.domain.events import Event
from app.domain.users import User
from app.observability.tracing import traced

# Each script appends the event before it changes the session: if the XADD
# fails (a wrong type, out of memory) the script stops with nothing changed,
# which MULTI/EXEC would not give (it runs the commands after a failed one).
# KEYS: session, stream.

# ARGV: user JSON, TTL seconds, stream max length, then the event's fields as name, value…
_START_SESSION = """
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

# Only if the session exists: append the event, stamped with the session's user
# id, and delete the session. ARGV: stream max length, then the event's fields.
_END_SESSION = """
local raw = redis.call('GET', KEYS[1])
if not raw then
    return false
end
local user_id = cjson.decode(raw)['id']
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'user_id', user_id, unpack(ARGV, 2))
redis.call('DEL', KEYS[1])
return raw
"""


def _flattened(fields: dict[str, str]) -> list[str]:
    return [part for name, value in fields.items() for part in (name, value)]


class SessionRedisRepository:
    """Satisfies ``SessionStore``.

    The key is ``<prefix>session:<sha256(id)>``: a dump of Redis gives no usable
    session id. The value is the user as JSON, so resolving a session (GetMe)
    is one ``GETEX`` that also slides the expiry: one round trip. Creating and
    ending a session append their event to the events stream in the same
    atomic step (a script each: both happen or neither).
    """

    def __init__(
        self,
        redis: Redis,
        *,
        key_prefix: str,
        ttl_seconds: int,
        stream_key: str,
        stream_max_length: int,
    ) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}session:"
        self._ttl = ttl_seconds
        self._stream = stream_key
        self._stream_max_length = stream_max_length
        self._start_session = redis.register_script(_START_SESSION)
        self._end_session = redis.register_script(_END_SESSION)

    def key(self, session_id: str) -> str:
        digest = hashlib.sha256(session_id.encode()).hexdigest()
        return self._prefix + digest

    @traced
    async def create(self, session_id: str, user: User, logged_in: Event) -> None:
        arguments = [encode_user(user), str(self._ttl), str(self._stream_max_length)]
        with redis_errors():
            await self._start_session(
                keys=[self.key(session_id), self._stream],
                args=arguments + _flattened(encode_event(logged_in)),
            )

    @traced
    async def touch(self, session_id: str) -> User | None:
        with redis_errors():
            raw = await self._redis.getex(self.key(session_id), ex=self._ttl)
        return None if raw is None else decode_user(raw)

    @traced
    async def delete(self, session_id: str, logged_out: Event) -> User | None:
        fields = encode_event(logged_out)
        fields.pop("user_id", None)  # the script states it, from the session
        with redis_errors():
            raw = await self._end_session(
                keys=[self.key(session_id), self._stream],
                args=[str(self._stream_max_length), *_flattened(fields)],
            )
        return None if raw is None else decode_user(raw)
