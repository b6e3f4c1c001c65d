"""Fixtures of the contract tests: each port's fake and real adapter, one after the other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.config import Settings
from tests.support.redis_cluster import ThrowawayRedisCluster
from tests.support.session_stores import StoreFactory, in_memory, in_redis


@pytest.fixture(params=["memory", "redis", "redis cluster"])
async def session_stores(
    request: pytest.FixtureRequest,
    redis: Redis,
    settings: Settings,
    redis_cluster_servers: ThrowawayRedisCluster,
) -> AsyncIterator[StoreFactory]:
    """Makes session stores with a given policy: the in-memory fake, then Redis's scripts
    on one Redis and on a Redis Cluster."""
    if request.param == "memory":
        yield in_memory
        return
    if request.param == "redis":
        async with in_redis(redis, settings.redis.key_prefix) as factory:
            yield factory
        return
    client = redis_cluster_servers.cluster_client()
    try:
        async with in_redis(client, settings.redis.key_prefix, cluster=True) as factory:
            yield factory
    finally:
        await client.aclose()
