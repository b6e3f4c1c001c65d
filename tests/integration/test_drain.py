"""Graceful drain: NOT_SERVING first, serving on for the drain delay, then the grace period.

Without the drain, calls that gRPC core had received but not yet handed to
the service when the server stopped were cancelled at once, whatever the
grace period: 100 Logins in flight and a SIGTERM used to end some CANCELLED.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from collections.abc import Awaitable
from typing import Any

import grpc

from app.config import Settings
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.client import PASSWORD, eventually, register, session_metadata, unique_email
from tests.support.health import NOT_SERVING, health_status
from tests.support.processes import process_environment, read_until, start_process

LOGINS = 100


async def _code(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_stop_drains_then_lets_in_flight_calls_finish_then_refuses(
    make_application, monkeypatch
):
    drain = 3.0  # long enough on a loaded machine for everything below to happen within it
    application = await make_application(
        grpc={
            "drain_seconds": drain,
            "grace_period_seconds": 10,
            "method_concurrency": {"Login": LOGINS + 10},
        }
    )
    real_verify = application.passwords.verify
    slow = 3

    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        email = unique_email("drain")
        await register(stub, email)
        login = await stub.Login(pb.LoginRequest(email=email, password=PASSWORD))

        async def slower_than_the_drain(password_hash: str, password: str, **work: Any) -> bool:
            await asyncio.sleep(drain + 0.5)
            return await real_verify(password_hash, password, **work)

        monkeypatch.setattr(application.passwords, "verify", slower_than_the_drain)
        slow_logins = [
            asyncio.ensure_future(stub.Login(pb.LoginRequest(email=email, password=PASSWORD)))
            for _ in range(slow)
        ]
        await asyncio.sleep(0.2)  # the slow ones are hashing
        monkeypatch.setattr(application.passwords, "verify", real_verify)
        # Many hashing calls, not awaited into the service before the stop begins.
        logins = [
            asyncio.ensure_future(stub.Login(pb.LoginRequest(email=email, password=PASSWORD)))
            for _ in range(LOGINS)
        ]
        stopping = asyncio.create_task(application.stop())

        async def not_serving() -> bool:
            return await health_status(channel) == NOT_SERVING

        await eventually(not_serving, timeout=drain)
        # While draining, new calls are still served.
        me = await stub.GetMe(
            pb.GetMeRequest(), metadata=session_metadata(login.session_id), timeout=5
        )
        assert me.user.email == email

        codes = Counter(await asyncio.gather(*(_code(call) for call in slow_logins + logins)))
        assert codes == {grpc.StatusCode.OK: slow + LOGINS}
        await stopping
        refused = await _code(asyncio.ensure_future(stub.GetMe(pb.GetMeRequest(), timeout=5)))
        assert refused == grpc.StatusCode.UNAVAILABLE


async def test_sigterm_with_logins_in_flight_ends_every_one_ok(settings: Settings, application):
    environment = process_environment(
        settings,
        # The production default: on a loaded machine grpc.aio can take seconds
        # to take 100 queued calls from gRPC core.
        APP_GRPC__DRAIN_SECONDS="5",
        APP_GRPC__GRACE_PERIOD_SECONDS="10",
        APP_GRPC__METHOD_CONCURRENCY=json.dumps({"Login": LOGINS}),
        # The logins run at once: every one counts against the account until it succeeds.
        APP_THROTTLING__ACCOUNT_FREE_FAILURES=str(LOGINS + 10),
        APP_METRICS__ENABLED="false",
    )
    port = environment["APP_GRPC__PORT"]
    process = await start_process(["serve"], environment)
    seen: list[str] = []
    try:
        await asyncio.wait_for(read_until(process, "serving", seen), timeout=60)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.UserServiceStub(channel)
            email = unique_email("sigterm")
            await register(stub, email)
            logins = [
                asyncio.ensure_future(stub.Login(pb.LoginRequest(email=email, password=PASSWORD)))
                for _ in range(LOGINS)
            ]
            await asyncio.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            codes = Counter(await asyncio.gather(*(_code(call) for call in logins)))
        rest, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert codes == {grpc.StatusCode.OK: LOGINS}, "".join(seen) + rest.decode()
    assert process.returncode == 0
