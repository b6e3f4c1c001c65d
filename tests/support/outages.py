"""What the outage tests and benchmark share: the service on throwaway stores, timed calls, logs."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from app.bootstrap import build_application
from app.config import Settings
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.client import PASSWORD, login, register, session_metadata, unique_email
from tests.support.health import SERVING, health_status
from tests.support.isolation import isolated_settings
from tests.support.passwords import CheapPasswords
from tests.support.processes import SUITE_ADDRESS_LIMITS
from tests.support.throwaway import ThrowawayPostgres, ThrowawayRedis


def outage_settings(
    run_id: str, redis: ThrowawayRedis, postgres: ThrowawayPostgres, **sections: dict[str, Any]
) -> Settings:
    """Settings on the throwaway servers: probes every 0.2 s, metrics and the relay on."""
    outage: dict[str, dict[str, Any]] = {
        "postgres": {"dsn": postgres.dsn(f"user_service_outage_{run_id}")},
        "redis": {"url": redis.url},
        "health": {"check_interval_seconds": 0.2, "check_timeout_seconds": 0.5},
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "events": {"relay_enabled": True, "relay_poll_interval_seconds": 0.1},
        "logging": {"format": "json", "level": "INFO"},
        "throttling": SUITE_ADDRESS_LIMITS,
    }
    return isolated_settings("outage", run_id, **{**outage, **sections})


async def outcome(call: Awaitable[object]) -> grpc.StatusCode:
    """The status ``call`` ends with: OK, or its error's code."""
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    except asyncio.CancelledError:
        # Awaiting a call the client cancelled raises CancelledError.
        if isinstance(call, grpc.aio.Call) and call.cancelled():
            return grpc.StatusCode.CANCELLED
        raise
    return grpc.StatusCode.OK


async def timed(call: Awaitable[object]) -> tuple[grpc.StatusCode, float]:
    """The status ``call`` ends with and the seconds it took."""
    started = time.monotonic()
    code = await outcome(call)
    return code, time.monotonic() - started


async def seconds_until(
    call: Callable[[], Awaitable[object]],
    wanted: grpc.StatusCode,
    *,
    since: float,
    timeout: float,
    interval: float = 0.02,
) -> float:
    """Call ``call()`` until it ends with ``wanted``; the seconds from ``since`` until it did.

    Fails the test if ``wanted`` does not come within ``timeout``. Each attempt
    must carry its own deadline, so one stuck call cannot stall the loop.
    """
    give_up = time.monotonic() + timeout
    while True:
        if await outcome(call()) == wanted:
            return time.monotonic() - since
        assert time.monotonic() < give_up, f"no {wanted.name} within {timeout} s"
        await asyncio.sleep(interval)


async def seconds_until_health(
    channel: grpc.aio.Channel, wanted: int, *, since: float, timeout: float
) -> float:
    """Poll the health service until it reports ``wanted``; the seconds from ``since``."""
    give_up = time.monotonic() + timeout
    while True:
        if await health_status(channel, timeout=2) == wanted:
            return time.monotonic() - since
        assert time.monotonic() < give_up, f"health not {wanted} within {timeout} s"
        await asyncio.sleep(0.02)


class Outage:
    """The service on throwaway stores, with a client and a cheap hasher."""

    def __init__(
        self,
        application: Application,
        redis: ThrowawayRedis,
        postgres: ThrowawayPostgres,
        passwords: CheapPasswords,
        channel: grpc.aio.Channel,
    ) -> None:
        self.application = application
        self.redis = redis
        self.postgres = postgres
        self.passwords = passwords
        self.channel = channel
        self.stub = pb_grpc.UserServiceStub(channel)

    def database(self) -> str:
        """The DSN of the service's database on the throwaway server."""
        return self.application.settings.postgres.dsn.get_secret_value()

    async def restore(self) -> None:
        """Both servers serving again (thawed, restarted) and the service healthy."""
        await self.redis.ensure_serving()
        await self.postgres.ensure_serving()
        await seconds_until_health(self.channel, SERVING, since=time.monotonic(), timeout=10)

    async def session(self) -> tuple[pb.User, str]:
        email = unique_email("outage")
        await register(self.stub, email)
        return await login(self.stub, email)

    def get_me(
        self, session_id: str, timeout: float = 10.0
    ) -> grpc.aio.UnaryUnaryCall[pb.GetMeRequest, pb.GetMeResponse]:
        return self.stub.GetMe(
            pb.GetMeRequest(), metadata=session_metadata(session_id), timeout=timeout
        )

    def register(
        self, email: str | None = None, timeout: float = 10.0
    ) -> grpc.aio.UnaryUnaryCall[pb.RegisterRequest, pb.RegisterResponse]:
        return self.stub.Register(
            pb.RegisterRequest(
                email=email or unique_email("outage"),
                first_name="Ada",
                last_name="Lovelace",
                password=PASSWORD,
            ),
            timeout=timeout,
        )


@contextlib.asynccontextmanager
async def running_outage(**sections: dict[str, Any]) -> AsyncIterator[Outage]:
    """Throwaway Redis and PostgreSQL, the service on them (cheap hasher), and a client."""
    run_id = uuid.uuid4().hex[:10]
    async with ThrowawayRedis() as redis, ThrowawayPostgres() as postgres:
        passwords = CheapPasswords()
        application = await build_application(
            outage_settings(run_id, redis, postgres, **sections), passwords=passwords
        )
        await application.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
                yield Outage(application, redis, postgres, passwords, channel)
        finally:
            await application.stop(grace=0.5)
