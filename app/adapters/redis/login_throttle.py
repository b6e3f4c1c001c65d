"""RedisLoginThrottle: password-guessing limits per account and per address, in Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from app.domain.clients import Client


class RedisLoginThrottle:
    """Satisfies ``LoginThrottle``. Admits every attempt until the limits are built."""

    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}throttle:"

    async def admit(self, account: str, client: Client) -> None:
        return None

    async def succeeded(self, account: str, client: Client) -> None:
        return None
