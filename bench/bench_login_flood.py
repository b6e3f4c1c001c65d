"""Login under abuse: GetMe during a Login flood, and a brute force before and after throttling.

In one run, each configuration on its own service instance:

* **GetMe p50/p99** from 4 concurrent callers, alone and then during a flood
  of 64 concurrent callers logging in (wrong and right passwords, many
  accounts) for ``BENCH_FLOOD_SECONDS``; the aim is p99 during the flood at
  most 3x p99 alone. Measured with the default hashing pool (the CPUs less
  one, so the event loop keeps a core) and with one thread per CPU, the
  throttle set out of the way so every login reaches the hasher.
* **Resident memory** of the service before and after each of 4 rounds of 100
  concurrent Logins with passwords of almost 1 MiB (sent from a process of
  their own), with glibc's default and with large buffers returned to the OS
  (``app/entrypoints/memory.py``, as every process of the service sets it).
* **Guesses per second** that one client (4 concurrent calls) gets against one
  account for ``BENCH_FLOOD_SECONDS``: throttle out of the way ("before") and
  with the default limits ("after"). A guess counts when its password was
  checked (UNAUTHENTICATED); refused attempts (RESOURCE_EXHAUSTED) do not.

Every loop is bounded in time and count. The run makes its own database and
key prefix and removes both.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import grpc
from harness import RUN_ID, bench_settings, percentile, running

from app.config import ThrottlingSettings
from app.entrypoints.memory import return_large_buffers_to_the_os
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.observability.setup.logging import configure_logging
from tests.support.isolation import isolated_settings, remove_run_data

FLOOD_SECONDS = float(os.environ.get("BENCH_FLOOD_SECONDS", "5"))
FLOOD_CALLERS = 64
GETME_CALLERS = 4
GUESSERS = 4
MAX_CALLS_PER_CALLER = 100_000
PASSWORD = "benchmark password"
ACCOUNTS = 16

# Out of the way: every attempt reaches the hasher (the "before" of throttling).
NO_THROTTLE = {
    "account_free_failures": 1_000,
    "address_free_failures": 1_000_000,
    "register_per_address_per_minute": 1_000_000,
    "successful_logins_per_account_per_minute": 1_000_000,
    "successful_logins_per_address_per_minute": 1_000_000,
}
# The defaults, but registration open enough for the set-up's accounts.
DEFAULT_THROTTLE = {"register_per_address_per_minute": 1_000}


async def until(seconds: float, call: Callable[[], Awaitable[Any]]) -> list[float]:
    """Call ``call`` back to back for ``seconds`` (bounded in count); each call's seconds."""
    deadline = time.monotonic() + seconds
    timings = []
    for _ in range(MAX_CALLS_PER_CALLER):
        if time.monotonic() >= deadline:
            break
        started = time.perf_counter()
        await call()
        timings.append(time.perf_counter() - started)
    return timings


async def concurrently(
    callers: int, seconds: float, call: Callable[[], Awaitable[Any]]
) -> list[float]:
    results = await asyncio.gather(*(until(seconds, call) for _ in range(callers)))
    return [timing for timings in results for timing in timings]


def counting(
    codes: collections.Counter[str], call: Callable[[], Awaitable[Any]]
) -> Callable[[], Awaitable[None]]:
    async def counted() -> None:
        try:
            await call()
            codes["OK"] += 1
        except grpc.aio.AioRpcError as err:
            codes[err.code().name] += 1

    return counted


async def register(stub: pb_grpc.UserServiceAsyncStub, tag: str) -> str:
    email = f"bench-{tag}-{RUN_ID}@example.com"
    request = pb.RegisterRequest(email=email, first_name="B", last_name="F", password=PASSWORD)
    await stub.Register(request)
    return email


async def getme_under_flood(workers: int | None) -> dict[str, Any]:
    settings = bench_settings(
        throttling=NO_THROTTLE,
        passwords={"max_workers": workers},
        redis={"key_prefix": f"bench:{RUN_ID}:flood{workers}:"},
    )
    async with (
        running(settings) as application,
        grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel,
    ):
        stub = pb_grpc.UserServiceStub(channel)
        tag = f"flood{workers}"
        emails = [await register(stub, f"{tag}-{n}") for n in range(ACCOUNTS)]
        session = await stub.Login(pb.LoginRequest(email=emails[0], password=PASSWORD))
        metadata = (("session_id", session.session_id),)

        async def getme() -> None:
            await stub.GetMe(pb.GetMeRequest(), metadata=metadata)

        await concurrently(GETME_CALLERS, 0.5, getme)  # warm-up
        # Alone: half before the flood, half after, so a passing disturbance of the
        # machine weighs on both sides alike.
        alone = await concurrently(GETME_CALLERS, FLOOD_SECONDS / 2, getme)

        # The flood comes from a process of its own, as it would from other hosts:
        # its client-side work does not land on the service's event loop.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(pool, int, "0")  # the process is up
            flood = loop.run_in_executor(pool, flood_process, application.port, emails)
            await asyncio.sleep(0.5)  # the flood is under way
            during = await concurrently(GETME_CALLERS, FLOOD_SECONDS, getme)
            logins = await flood
        alone += await concurrently(GETME_CALLERS, FLOOD_SECONDS / 2, getme)
    return {
        "workers": settings.passwords.worker_count(),
        "alone": alone,
        "during": during,
        "logins": logins,
    }


def flood_process(port: int, emails: list[str]) -> dict[str, int]:
    """Run the Login flood against ``port`` (in a child process); the answers by code."""
    return asyncio.run(flood(port, emails))


async def flood(port: int, emails: list[str]) -> dict[str, int]:
    codes: collections.Counter[str] = collections.Counter()
    turn = iter(range(10**9))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)

        async def login() -> None:
            n = next(turn)
            password = PASSWORD if n % 4 == 0 else "a wrong password"
            await stub.Login(pb.LoginRequest(email=emails[n % ACCOUNTS], password=password))

        await asyncio.gather(
            *(until(FLOOD_SECONDS + 1, counting(codes, login)) for _ in range(FLOOD_CALLERS))
        )
    return dict(codes)


async def guesses_per_second(throttling: dict[str, Any], tag: str) -> dict[str, Any]:
    # A key prefix of its own: counters of the other phases do not carry over.
    settings = bench_settings(throttling=throttling, redis={"key_prefix": f"bench:{RUN_ID}:{tag}:"})
    async with (
        running(settings) as application,
        grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel,
    ):
        stub = pb_grpc.UserServiceStub(channel)
        email = await register(stub, tag)
        codes: collections.Counter[str] = collections.Counter()

        async def guess() -> None:
            await stub.Login(pb.LoginRequest(email=email, password="a wrong guess"))

        await concurrently(GUESSERS, FLOOD_SECONDS, counting(codes, guess))
    return {"codes": dict(codes), "per_second": codes["UNAUTHENTICATED"] / FLOOD_SECONDS}


def resident_mib() -> float:
    """This process's resident memory now (Linux), in MiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_process(run_id: str, large_buffers_returned: bool) -> dict[str, Any]:
    """:func:`memory_after_huge_passwords` in a fresh process (spawned for it), with
    or without large buffers returned to the OS (as ``app.entrypoints.runner`` sets it)."""
    if large_buffers_returned:
        assert return_large_buffers_to_the_os()
    return asyncio.run(memory_after_huge_passwords(run_id, large_buffers_returned))


async def measure_memory() -> dict[bool, dict[str, Any]]:
    """The memory measurement without, then with, large buffers returned."""
    loop = asyncio.get_running_loop()
    results = {}
    for returned in (False, True):
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            results[returned] = await loop.run_in_executor(pool, memory_process, RUN_ID, returned)
    return results


async def memory_after_huge_passwords(run_id: str, tag: bool) -> dict[str, Any]:
    """The service's resident memory before any, and after each of 4 rounds of 100
    concurrent Logins with passwords of almost 1 MiB (sent from a process of
    their own, one connection per round)."""
    configure_logging("ERROR", "console")
    settings = isolated_settings(
        "bench",
        run_id,
        logging={"level": "ERROR"},
        throttling=NO_THROTTLE,
        redis={"key_prefix": f"bench:{run_id}:memory{int(tag)}:"},
    )
    codes: collections.Counter[str] = collections.Counter()
    async with (
        running(settings) as application,
        grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel,
    ):
        email = await register(pb_grpc.UserServiceStub(channel), f"memory{int(tag)}")
        length = settings.grpc.max_request_bytes - 1024
        loop = asyncio.get_running_loop()
        gc.collect()
        resident = [resident_mib()]
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            for _ in range(4):
                codes.update(
                    await loop.run_in_executor(
                        pool, huge_logins, application.port, email, length, 1, 100
                    )
                )
                gc.collect()
                resident.append(resident_mib())
    return {"resident": resident, "codes": dict(codes)}


def huge_logins(port: int, email: str, length: int, rounds: int, at_once: int) -> dict[str, int]:
    """``rounds`` times ``at_once`` concurrent Logins with a ``length``-character password."""

    async def run() -> dict[str, int]:
        codes: collections.Counter[str] = collections.Counter()
        options = [("grpc.max_send_message_length", 2 * length)]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            stub = pb_grpc.UserServiceStub(channel)
            request = pb.LoginRequest(email=email, password="x" * length)
            login = counting(codes, lambda: stub.Login(request))
            for _ in range(rounds):
                await asyncio.gather(*(login() for _ in range(at_once)))
        return dict(codes)

    return asyncio.run(run())


def guesses_a_day(policy: ThrottlingSettings) -> int:
    """Guesses one client gets at one account in 24 h under ``policy``, waiting exactly."""
    elapsed, failures = 0.0, 0
    while elapsed <= 24 * 3600 and failures < 1_000_000:
        failures += 1
        if failures >= policy.account_free_failures:
            exponent = min(failures - policy.account_free_failures, 60)
            elapsed += min(policy.first_wait_seconds * 2**exponent, policy.max_wait_seconds)
    return failures


def summary(timings: list[float]) -> str:
    return (
        f"p50 {percentile(timings, 0.5):8.0f} µs  p99 {percentile(timings, 0.99):8.0f} µs"
        f"  ({len(timings)} calls)"
    )


async def main() -> None:
    configure_logging("ERROR", "console")
    settings = bench_settings()
    try:
        floods = [await getme_under_flood(None), await getme_under_flood(os.cpu_count() or 1)]
        before = await guesses_per_second(NO_THROTTLE, "before")
        after = await guesses_per_second(DEFAULT_THROTTLE, "after")
        memory = await measure_memory()
    finally:
        await remove_run_data(settings)

    print(
        f"Login flood benchmark: {FLOOD_CALLERS} concurrent logins for {FLOOD_SECONDS:.0f} s,"
        f" GetMe from {GETME_CALLERS} callers, {os.cpu_count()} CPUs"
    )
    for flood in floods:
        alone, during = flood["alone"], flood["during"]
        ratio = percentile(during, 0.99) / percentile(alone, 0.99)
        print(f"-- hashing threads: {flood['workers']}")
        print(f"GetMe alone          {summary(alone)}")
        print(f"GetMe during flood   {summary(during)}")
        median = percentile(during, 0.5) / percentile(alone, 0.5)
        print(f"GetMe p99 during / alone = {ratio:.2f}x (target <= 3x), p50 {median:.2f}x")
        print(f"Login answers during the flood: {flood['logins']}")
    ratio = before["per_second"] / max(after["per_second"], 1e-9)
    print(f"-- brute force, one client ({GUESSERS} concurrent calls), one account")
    print(
        f"before (throttle out of the way): {before['per_second']:8.1f} guesses/s {before['codes']}"
    )
    print(
        f"after  (default limits):          {after['per_second']:8.1f} guesses/s {after['codes']}"
    )
    print(f"guesses/s before / after = {ratio:.0f}x over {FLOOD_SECONDS:.0f} s (the free failures")
    print("  and the first short waits fall inside it; the gap widens as the waits double)")
    print("-- 4 x 100 concurrent Logins with ~1 MiB passwords: the service's resident memory")
    for returned, label in ((False, "glibc's default"), (True, "large buffers returned")):
        found = memory[returned]
        rounds = " → ".join(f"{mib:.0f}" for mib in found["resident"])
        growth = found["resident"][-1] - found["resident"][0]
        print(f"{label:24} {rounds} MiB ({growth:+.0f} MiB), answers {found['codes']}")
    policy = ThrottlingSettings()
    print(
        f"at the default limits, one account takes at most {guesses_a_day(policy)} guesses a day"
        f" (before: {before['per_second'] * 86400:,.0f} at this rate)"
    )


if __name__ == "__main__":
    asyncio.run(main())
