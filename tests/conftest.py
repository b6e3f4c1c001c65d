"""Shared fixtures: one database and one Redis key prefix per test run.

Every run creates ``user_service_test_<run id>`` on the configured PostgreSQL
server and uses ``test:<run id>:`` as its Redis key prefix, and removes both at
the end, so runs never see each other or anything left behind. The server
addresses come from the usual settings (``APP_POSTGRES__DSN``,
``APP_REDIS__URL``), defaulting to the local ones.
"""

from __future__ import annotations

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
async def make_application(settings: Settings) -> AsyncIterator[ApplicationFactory]:
    """Build and start applications on this run's database; stop them all at the end."""
    started: list[Application] = []

    async def factory(**sections: dict[str, Any]) -> Application:
        application = await build_application(make_settings(**sections) if sections else settings)
        await application.start()
        started.append(application)
        return application

    yield factory
    for application in reversed(started):
        await application.stop(grace=0.5)
    await _delete_keys(settings)
    await drop_database(settings.postgres.dsn.get_secret_value())


async def _delete_keys(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis.url.get_secret_value())
    try:
        async for key in redis.scan_iter(match=f"{settings.redis.key_prefix}*", count=500):
            await redis.delete(key)
    finally:
        await redis.aclose()


@pytest.fixture(scope="session")
async def application(make_application: ApplicationFactory) -> Application:
    """The service, started once for the whole run."""
    return await make_application()


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
