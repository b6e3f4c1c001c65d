"""Shared fixtures: one database and one Redis key prefix per test run.

Every run creates ``user_service_test_<run id>`` on the configured PostgreSQL
server and uses ``test:<run id>:`` as its Redis key prefix, and removes both at
the end, so runs never see each other or anything left behind. The server
addresses come from the usual settings (``APP_POSTGRES__DSN``,
``APP_REDIS__URL``), defaulting to the local ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import uvloop
from redis.asyncio import Redis

from app.config import Settings
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from app.observability.setup.logging import configure_logging
from tests.support.application import (
    ApplicationFactory,
    build_test_application,
    make_settings,
    running_application,
)
from tests.support.isolation import remove_run_data
from tests.support.redis_cluster import ThrowawayRedisCluster


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Every test runs on the event loop the service's processes run on."""
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session", autouse=True)
def service_logging() -> None:
    """Log as the service does: structlog through the standard library, JSON lines."""
    configure_logging("INFO", "json")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
async def application(settings: Settings) -> AsyncIterator[Application]:
    """The service, started once for the whole run; the run's stores are removed after it."""
    application = await build_test_application(settings)
    await application.start()
    yield application
    await application.stop(grace=0.5)
    await remove_run_data(settings)


@pytest.fixture
async def make_application(application: Application) -> AsyncIterator[ApplicationFactory]:
    """Build and start extra applications on this run's stores, stopped when the test ends.

    Keyword arguments are settings sections, e.g. ``sessions={"ttl_seconds": 1}``;
    with a ``passwords`` section the application hashes as configured, else cheaply.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def factory(**sections: dict[str, Any]) -> Application:
            return await stack.enter_async_context(running_application(**sections))

        yield factory


async def _channel(port: int) -> grpc.aio.Channel:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    await channel.channel_ready()
    return channel


@pytest.fixture(scope="session")
async def channel(application: Application) -> AsyncIterator[grpc.aio.Channel]:
    channel = await _channel(application.port)
    yield channel
    await channel.close()


@pytest.fixture(scope="session")
def stub(channel: grpc.aio.Channel) -> pb_grpc.UserServiceAsyncStub:
    return pb_grpc.UserServiceStub(channel)


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A direct client, for looking at what the service stored."""
    client = Redis.from_url(settings.redis.url.get_secret_value())
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def redis_cluster_servers() -> AsyncIterator[ThrowawayRedisCluster]:
    """A real Redis Cluster on loopback (3 masters, 3 replicas), started once when first used."""
    async with ThrowawayRedisCluster() as cluster:
        yield cluster


@pytest.fixture
async def redis_cluster(redis_cluster_servers: ThrowawayRedisCluster) -> ThrowawayRedisCluster:
    """The run's Redis Cluster, whole again: nodes an earlier test killed are back and in sync."""
    await redis_cluster_servers.restore()
    return redis_cluster_servers
