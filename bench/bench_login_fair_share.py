"""Another client's Logins while one address floods Login with correct passwords.

The service runs with production's limits and hashing (argon2 at its default
cost, the default hashing threads, Login's 16 slots and the per-client
shares of whatever version this is). One process of its own, from
127.0.0.1, keeps ``FLOOD_CALLERS`` Logins in flight to ``ACCOUNTS`` accounts of
its own, each with its correct password, for ``BENCH_FLOOD_SECONDS``. The
other client logs in to its own account one call after the other from
127.0.0.2 (through ``tests/support/forwarder.py``): for the same time before
the flood, then during it. Printed for the other client: the share of OK
answers and the p50/p95 latency of its calls, before and during.

Bounded in time and count; the run makes its own database and key prefix
and removes both.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import grpc
from harness import RUN_ID, bench_settings, percentile, running

from app.config import GrpcSettings, PasswordSettings
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.observability.setup.logging import configure_logging
from tests.support.forwarder import forwarder
from tests.support.isolation import remove_run_data

FLOOD_SECONDS = float(os.environ.get("BENCH_FLOOD_SECONDS", "10"))
FLOOD_CALLERS = 24
ACCOUNTS = 8
MOST_CALLS = 100_000
PASSWORD = "benchmark password"


def production_limits() -> dict[str, dict[str, Any]]:
    """Production's Login limits and hashing, in place of the loose ones of tests."""
    grpc_defaults = GrpcSettings().model_dump()
    return {
        "grpc": {name: value for name, value in grpc_defaults.items() if "concurrency" in name},
        "passwords": PasswordSettings().model_dump(),
        # Correct passwords are never throttled; registration is the set-up's.
        "throttling": {"register_per_address_per_minute": 1_000},
    }


async def timed_logins(stub: pb_grpc.UserServiceAsyncStub, email: str) -> dict[str, Any]:
    """Log in one call after the other for ``FLOOD_SECONDS``: answers and seconds per call."""
    codes: collections.Counter[str] = collections.Counter()
    timings = []
    deadline = time.monotonic() + FLOOD_SECONDS
    request = pb.LoginRequest(email=email, password=PASSWORD)
    for _ in range(MOST_CALLS):
        if time.monotonic() >= deadline:
            break
        started = time.perf_counter()
        try:
            await stub.Login(request, timeout=10)
            codes["OK"] += 1
        except grpc.aio.AioRpcError as err:
            codes[err.code().name] += 1
        timings.append(time.perf_counter() - started)
    return {"codes": codes, "timings": timings}


def flood_process(port: int, emails: list[str], seconds: float) -> dict[str, int]:
    """``FLOOD_CALLERS`` callers logging in with correct passwords (in a child process)."""

    async def flood() -> dict[str, int]:
        codes: collections.Counter[str] = collections.Counter()
        deadline = time.monotonic() + seconds
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.UserServiceStub(channel)

            async def caller(n: int) -> None:
                request = pb.LoginRequest(email=emails[n % len(emails)], password=PASSWORD)
                for _ in range(MOST_CALLS):
                    if time.monotonic() >= deadline:
                        return
                    try:
                        await stub.Login(request, timeout=10)
                        codes["OK"] += 1
                    except grpc.aio.AioRpcError as err:
                        codes[err.code().name] += 1

            await asyncio.gather(*(caller(n) for n in range(FLOOD_CALLERS)))
        return dict(codes)

    return asyncio.run(flood())


async def register(stub: pb_grpc.UserServiceAsyncStub, tag: str) -> str:
    email = f"bench-fair-{tag}-{RUN_ID}@example.com"
    request = pb.RegisterRequest(email=email, first_name="B", last_name="F", password=PASSWORD)
    await stub.Register(request, timeout=30)
    return email


async def measure() -> dict[str, Any]:
    settings = bench_settings(redis={"key_prefix": f"bench:{RUN_ID}:fair:"}, **production_limits())
    async with (
        running(settings) as application,
        grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel,
        forwarder(application.port, "127.0.0.2") as other_port,
        grpc.aio.insecure_channel(f"127.0.0.1:{other_port}") as other_channel,
    ):
        flooding, other = pb_grpc.UserServiceStub(channel), pb_grpc.UserServiceStub(other_channel)
        emails = [await register(flooding, str(n)) for n in range(ACCOUNTS)]
        mine = await register(other, "other")
        await timed_logins(other, mine)  # warm-up, and the before's first half is not cold
        before = await timed_logins(other, mine)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(pool, int, "0")  # the process is up
            flood = loop.run_in_executor(
                pool, flood_process, application.port, emails, FLOOD_SECONDS + 1
            )
            await asyncio.sleep(0.5)  # the flood is under way
            during = await timed_logins(other, mine)
            flooded = await flood
    return {
        "workers": settings.passwords.worker_count(),
        "before": before,
        "during": during,
        "flood": flooded,
    }


def summary(found: dict[str, Any]) -> str:
    codes, timings = found["codes"], found["timings"]
    calls = sum(codes.values())
    return (
        f"OK {codes['OK']}/{calls} ({100 * codes['OK'] / max(calls, 1):.0f} %)"
        f"  p50 {percentile(timings, 0.5) / 1000:6.0f} ms"
        f"  p95 {percentile(timings, 0.95) / 1000:6.0f} ms"
        f"  {dict(codes)}"
    )


async def main() -> None:
    configure_logging("ERROR", "console")
    settings = bench_settings()
    try:
        found = await measure()
    finally:
        await remove_run_data(settings)
    print(
        f"Login fair shares: {FLOOD_CALLERS} callers at 127.0.0.1 logging in with correct"
        f" passwords to {ACCOUNTS} accounts for {FLOOD_SECONDS:.0f} s; {os.cpu_count()} CPUs,"
        f" {found['workers']} hashing thread(s)"
    )
    print(f"other client (127.0.0.2), before the flood: {summary(found['before'])}")
    print(f"other client (127.0.0.2), during the flood: {summary(found['during'])}")
    print(f"the flood's answers: {found['flood']}")


if __name__ == "__main__":
    asyncio.run(main())
