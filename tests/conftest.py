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
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
from redis.asyncio import Redis

from app.adapters.postgres.database import drop_database
from app.bootstrap import Application, build_application
from app.config import Settings
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.observability.logging import configure_logging

RUN_ID = uuid.uuid4().hex[:12]

ApplicationFactory = Callable[..., Awaitable[Application]]


def _test_dsn(base: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/user_service_test_{RUN_ID}"))


def make_settings(**sections: dict[str, Any]) -> Settings:
    """Settings for a test application: this run's database and key prefix, port 0.

    Keyword arguments override whole sections' fields, e.g.
    ``make_settings(sessions={"ttl_seconds": 1})``.
    """
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    values: dict[str, dict[str, Any]] = {
        "grpc": {"host": "127.0.0.1", "port": 0, "grace_period_seconds": 1.0},
        "postgres": {"dsn": _test_dsn(defaults.postgres.dsn.get_secret_value())},
        "redis": {"key_prefix": f"test:{RUN_ID}:"},
        "logging": {"format": "json", "level": "INFO"},
        "health": {"check_interval_seconds": 0.2, "check_timeout_seconds": 0.5},
        "metrics": {"enabled": False, "host": "127.0.0.1", "port": 0},
        "tracing": {"enabled": False},
        "events": {"relay_enabled": False},
    }
    for name, fields in sections.items():
        values.setdefault(name, {}).update(fields)
    return Settings(**values)  # type: ignore[arg-type]


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
    await _delete_keys(settings)
    await drop_database(settings.postgres.dsn.get_secret_value())


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


async def _delete_keys(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis.url.get_secret_value())
    try:
        async for key in redis.scan_iter(match=f"{settings.redis.key_prefix}*", count=500):
            await redis.delete(key)
    finally:
        await redis.aclose()


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
