"""UserRedisCache: the cache-aside copy of users by id."""

from __future__ import annotations

from uuid import UUID

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.adapters.redis.user_json import decode_user, encode_user
from app.domain.users import User
from app.observability.tracing import traced


class UserRedisCache:
    """Satisfies ``UserCache``: ``<prefix>user:<uuid>`` holds the user as JSON."""

    def __init__(self, redis: RedisClient, *, key_prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}user:"
        self._ttl = ttl_seconds

    @traced
    async def get(self, user_id: UUID) -> User | None:
        with redis_errors():
            raw = await self._redis.get(f"{self._prefix}{user_id}")
        return None if raw is None else decode_user(raw)

    @traced
    async def put(self, user: User) -> None:
        with redis_errors():
            await self._redis.set(f"{self._prefix}{user.id}", encode_user(user), ex=self._ttl)

    @traced
    async def delete(self, user_id: UUID) -> None:
        with redis_errors():
            await self._redis.delete(f"{self._prefix}{user_id}")
