"""Session lifetimes follow Redis's clock, whatever the clock of the instance that serves them.

A second instance runs in its own process with its wall clock an hour behind
(``tests.support.skewed_clock``), on the same PostgreSQL and Redis as the
suite's; the sessions' times and their keys' expiry are read from Redis and
compared with Redis's own clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

import grpc
import pytest
from redis.asyncio import Redis

from app.adapters.redis.sessions import digest_of
from app.config import Settings
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.application import ApplicationFactory
from tests.support.client import is_unauthenticated, login, register, session_metadata, unique_email
from tests.support.processes import ROOT, process_environment, read_until

SKEW_SECONDS = -3600.0
LIFETIME_SECONDS = 1800  # shorter than the skew and than the idle timeout


async def _redis_ms(redis: Redis) -> int:
    seconds, microseconds = await redis.time()
    return seconds * 1000 + microseconds // 1000


@pytest.fixture(scope="module")
async def behind(settings: Settings, application) -> AsyncIterator[pb_grpc.UserServiceAsyncStub]:
    """A stub of an instance whose clock is an hour behind Redis's."""
    environment = process_environment(
        settings,
        APP_METRICS__ENABLED="false",
        APP_SESSIONS__ABSOLUTE_LIFETIME_SECONDS=str(LIFETIME_SECONDS),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.skewed_clock",
        str(SKEW_SECONDS),
        "serve",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    seen: list[str] = []
    try:
        await asyncio.wait_for(read_until(process, "serving", seen), timeout=60)
        # Keep reading its log so that a full pipe never blocks it.
        drain = asyncio.create_task(process.communicate())
        port = environment["APP_GRPC__PORT"]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.UserServiceStub(channel)
        process.terminate()
        await asyncio.wait_for(drain, timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@pytest.fixture
async def on_time(
    make_application: ApplicationFactory,
) -> AsyncIterator[pb_grpc.UserServiceAsyncStub]:
    """A stub of an instance on the right time, with the same lifetime as the one behind."""
    application = await make_application(sessions={"absolute_lifetime_seconds": LIFETIME_SECONDS})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        yield pb_grpc.UserServiceStub(channel)


def _key(settings: Settings, session_id: str) -> str:
    return f"{settings.redis.key_prefix}session:{digest_of(session_id)}"


async def _session_from(stub: pb_grpc.UserServiceAsyncStub) -> str:
    email = unique_email("clock")
    await register(stub, email)
    return (await login(stub, email))[1]


async def test_a_session_made_by_an_instance_behind_starts_and_ends_by_redis_clock(
    behind, redis, settings
):
    before = await _redis_ms(redis)
    session_id = await _session_from(behind)
    after = await _redis_ms(redis)
    key = _key(settings, session_id)
    created, expires = (int(value) for value in await redis.hmget(key, "created_at", "expires_at"))
    assert before <= created <= after
    assert expires == created + LIFETIME_SECONDS * 1000
    assert await redis.pexpiretime(key) == expires
    # The user's principal is fresh for the refresh bound, by Redis's clock too.
    user_id = (await redis.hget(key, "user_id")).decode()
    principal = f"{settings.redis.key_prefix}principal:{user_id}"
    fresh_until = int(await redis.hget(principal, "fresh_until"))
    refresh_ms = settings.sessions.user_refresh_seconds * 1000
    assert before + refresh_ms <= fresh_until <= after + refresh_ms


async def test_an_instance_behind_never_keeps_a_key_past_the_session_lifetime(
    behind, on_time, redis, settings
):
    session_id = await _session_from(on_time)
    key = _key(settings, session_id)
    await behind.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
    expires = int(await redis.hget(key, "expires_at"))
    assert await redis.pexpiretime(key) == expires


async def test_an_instance_behind_ends_a_session_whose_lifetime_passed_by_redis_clock(
    behind, on_time, redis, settings
):
    session_id = await _session_from(on_time)
    key = _key(settings, session_id)
    # The lifetime ends now, by Redis's clock (as it would LIFETIME_SECONDS later).
    await redis.hset(key, "expires_at", await _redis_ms(redis))
    assert await is_unauthenticated(
        behind.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
    )
    assert not await redis.exists(key)
