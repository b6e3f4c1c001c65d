"""Shared fixtures: one database and one Redis key prefix per test run.

Every run creates ``user_service_test_<run id>`` on the configured PostgreSQL
server and uses ``test:<run id>:`` as its Redis key prefix, and removes both at
the end, so runs never see each other or anything left behind. The server
addresses come from the usual settings (``APP_POSTGRES__DSN``,
``APP_REDIS__URL``), defaulting to the local ones.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
import uvloop
from redis.asyncio import Redis

from app.bootstrap import Application, build_application
from app.config import Settings
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.observability.logging import configure_logging
from tests.isolation import isolated_settings, remove_run_data
from tests.support.processes import SUITE_ADDRESS_LIMITS

RUN_ID = uuid.uuid4().hex[:12]

ApplicationFactory = Callable[..., Awaitable[Application]]


def make_settings(**sections: dict[str, Any]) -> Settings:
    """Settings for a test application: this run's database and key prefix, port 0.

    Keyword arguments override whole sections' fields, e.g.
    ``make_settings(sessions={"ttl_seconds": 1})``.
    """
    return isolated_settings(
        "test",
        RUN_ID,
        **{
            "logging": {"format": "json", "level": "INFO"},
            "health": {"check_interval_seconds": 0.2, "check_timeout_seconds": 0.5},
            "throttling": SUITE_ADDRESS_LIMITS,
            **sections,
        },
    )


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Every test runs on the event loop the service's processes run on."""
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session", autouse=True)
def service_logging() -> None:
    """Log as the service does: structlog through the standard library, JSON lines."""
    configure_logging("INFO", "json")


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
async def application(settings: Settings) -> AsyncIterator[Application]:
    """The service, started once for the whole run; the run's stores are removed after it."""
    application = await build_application(settings)
    await application.start()
    yield application
    await application.stop(grace=0.5)
    await remove_run_data(settings)


@contextlib.asynccontextmanager
async def running_application(**sections: dict[str, Any]) -> AsyncIterator[Application]:
    """An extra application on this run's stores, stopped when the block ends.

    For fixtures of any scope (request ``application`` too, so the run's stores
    outlive it). Stop it in the scope that started it: an aio server left
    running while the event loop sits idle between tests can hang in ``stop``.
    """
    extra = await build_application(make_settings(**sections))
    await extra.start()
    try:
        yield extra
    finally:
        await extra.stop(grace=0.5)


@pytest.fixture
async def make_application(application: Application) -> AsyncIterator[ApplicationFactory]:
    """Build and start extra applications on this run's stores, stopped when the test ends.

    Keyword arguments are settings sections, e.g. ``sessions={"ttl_seconds": 1}``.
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
def stub(channel: grpc.aio.Channel) -> pb_grpc.UserServiceStub:
    return pb_grpc.UserServiceStub(channel)


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A direct client, for looking at what the service stored."""
    client = Redis.from_url(settings.redis.url.get_secret_value())
    yield client
    await client.aclose()
