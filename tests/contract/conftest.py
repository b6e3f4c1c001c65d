"""Fixtures of the contract tests: each port's fake and real adapter, one after the other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.config import Settings
from tests.support.session_stores import StoreFactory, in_memory, in_redis


@pytest.fixture(params=["memory", "redis"])
async def session_stores(
    request: pytest.FixtureRequest, redis: Redis, settings: Settings
) -> AsyncIterator[StoreFactory]:
    """Makes session stores with a given policy: the in-memory fake, then Redis's scripts."""
    if request.param == "memory":
        yield in_memory
        return
    async with in_redis(redis, settings.redis.key_prefix) as factory:
        yield factory
