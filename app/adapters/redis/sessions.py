"""SessionRedisRepository: sessions in Redis, keyed by a digest of their id."""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

from app.adapters.redis.errors import redis_errors
from app.adapters.redis.user_json import decode_user, encode_user
from app.domain.users import User
from app.observability.tracing import traced


class SessionRedisRepository:
    """Satisfies ``SessionStore``.

    The key is ``<prefix>session:<sha256(id)>``: a dump of Redis gives no usable
    session id. The value is the user as JSON, so resolving a session (GetMe)
    is one ``GETEX`` that also slides the expiry: one round trip.
    """

    def __init__(self, redis: Redis, *, key_prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}session:"
        self._ttl = ttl_seconds

    def key(self, session_id: str) -> str:
        digest = hashlib.sha256(session_id.encode()).hexdigest()
        return self._prefix + digest

    @traced
    async def create(self, session_id: str, user: User) -> None:
        with redis_errors():
            await self._redis.set(self.key(session_id), encode_user(user), ex=self._ttl)

    @traced
    async def touch(self, session_id: str) -> User | None:
        with redis_errors():
            raw = await self._redis.getex(self.key(session_id), ex=self._ttl)
        return None if raw is None else decode_user(raw)

    @traced
    async def delete(self, session_id: str) -> User | None:
        with redis_errors():
            raw = await self._redis.getdel(self.key(session_id))
        return None if raw is None else decode_user(raw)
