"""One test module's service on one Redis and on a Redis Cluster: import these fixtures.

A module that imports them (``from tests.support.redis_deployments import
application, channel, make_application, redis, redis_sections, stub``) runs
each of its tests twice: on the run's single Redis (the run's own service),
and on the run's throwaway Redis Cluster (``redis_cluster_servers``), with a
service of its own in cluster mode on the same database and key prefix.
``redis`` is a direct client of whichever Redis the service uses, and
``make_application`` builds extra services on it. ``settings`` stays the
run's (one node's): a test that names keys asks ``application.settings``.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.session_keys import SessionKeys
from app.config import Settings
from app.domain.sessions import session_owner
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import ApplicationFactory, running_application
from tests.support.redis_cluster import ThrowawayRedisCluster

ONE_NODE, CLUSTER = "one node", "cluster"


def session_keys(settings: Settings) -> SessionKeys:
    """The names of sessions' keys in the Redis ``settings`` use (one node's or a cluster's)."""
    return SessionKeys(settings.redis.key_prefix, cluster=settings.redis.cluster)


def session_key(settings: Settings, session_id: str) -> str:
    """The key of the service's session ``session_id`` (an id the service issued)."""
    owner = session_owner(session_id)
    assert owner is not None, "an id the service issued names its user"
    return session_keys(settings).session(owner, hashlib.sha256(session_id.encode()).hexdigest())


@pytest.fixture(scope="session", params=[ONE_NODE, CLUSTER])
def redis_sections(
    request: pytest.FixtureRequest, redis_cluster_servers: ThrowawayRedisCluster
) -> dict[str, dict[str, Any]]:
    """The settings sections of each deployment: none for one node, the cluster's ``redis``."""
    if request.param == ONE_NODE:
        return {}
    return {"redis": {"url": redis_cluster_servers.url, "cluster": True}}


@pytest.fixture(scope="session")
async def application(
    application: Application, redis_sections: dict[str, dict[str, Any]]
) -> AsyncIterator[Application]:
    if not redis_sections:
        yield application
        return
    async with running_application(**redis_sections) as on_cluster:
        yield on_cluster


@pytest.fixture(scope="session")
async def channel(application: Application) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        await channel.channel_ready()
        yield channel


@pytest.fixture(scope="session")
def stub(channel: grpc.aio.Channel) -> pb_grpc.UserServiceAsyncStub:
    return pb_grpc.UserServiceStub(channel)


@pytest.fixture(scope="session")
async def redis(application: Application) -> AsyncIterator[RedisClient]:
    """A direct client of the service's Redis, for looking at what it stored."""
    url = application.settings.redis.url.get_secret_value()
    client: RedisClient
    if application.settings.redis.cluster:
        client = RedisCluster.from_url(url)
    else:
        client = Redis.from_url(url)
    yield client
    await client.aclose()


@pytest.fixture
async def make_application(
    application: Application, redis_sections: dict[str, dict[str, Any]]
) -> AsyncIterator[ApplicationFactory]:
    """Extra services on the deployment's Redis, stopped when the test ends."""
    async with contextlib.AsyncExitStack() as stack:

        async def factory(**sections: dict[str, Any]) -> Application:
            return await stack.enter_async_context(
                running_application(**{**redis_sections, **sections})
            )

        yield factory
