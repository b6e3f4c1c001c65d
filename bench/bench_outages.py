"""Outage detection and recovery times, measured on throwaway Redis and PostgreSQL.

    make outages        # or: python bench/bench_outages.py

The service runs with its default bounds and health settings on a private
``redis-server`` and ``postgres`` (``tests/support/throwaway.py``). For each
fault (Redis frozen, Redis killed, PostgreSQL frozen, PostgreSQL killed)
eight callers run for a healthy phase (the baseline, same run), the outage
and the recovery: four on an RPC that needs the failing store, four on one
that does not; a poller reads the health service every 50 ms. Printed per
fault: time from the fault to the first UNAVAILABLE and to NOT_SERVING; the
slowest answer during the outage; from the store's return (thawed, or
restarted and answering) to the first OK and to SERVING; calls per second of
the unaffected RPC during the outage against the baseline; and any answer
other than OK or UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from app.grpc.generated import user_service_pb2 as pb
from app.observability.setup.logging import configure_logging
from tests.support.client import PASSWORD, login, register, session_metadata, unique_email
from tests.support.health import NOT_SERVING, SERVING
from tests.support.outages import Outage, outcome, running_outage

HEALTHY_SECONDS = float(os.environ.get("OUTAGE_HEALTHY_SECONDS", "2"))
OUTAGE_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "4"))
RECOVERY_SECONDS = float(os.environ.get("OUTAGE_RECOVERY_SECONDS", "5"))
CALLERS_EACH = 4


@dataclass
class Timeline:
    """Every answer (rpc, start, end, code) and health reading (time, status) of a run."""

    calls: list[tuple[str, float, float, grpc.StatusCode]] = field(default_factory=list)
    health: list[tuple[float, int]] = field(default_factory=list)

    def first(self, rpc: str, code: grpc.StatusCode, after: float) -> float | None:
        ends = [end for name, _, end, got in self.calls if name == rpc and got == code]
        later = [end for end in ends if end >= after]
        return min(later) - after if later else None

    def first_health(self, status: int, after: float) -> float | None:
        times = [at for at, got in self.health if got == status and at >= after]
        return min(times) - after if times else None

    def slowest(self, rpc: str, start: float, end: float) -> float:
        spans = [e - s for name, s, e, _ in self.calls if name == rpc and start <= s < end]
        return max(spans, default=0.0)

    def rate(self, rpc: str, start: float, end: float) -> float:
        done = [e for name, _, e, code in self.calls if name == rpc and start <= e < end]
        return len(done) / (end - start)

    def odd_codes(self) -> set[str]:
        usual = {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
        return {code.name for *_, code in self.calls if code not in usual}


async def run_scenario(
    outage: Outage,
    name: str,
    affected: str,
    unaffected: str,
    fault: Callable[[], Awaitable[None]],
    back: Callable[[], Awaitable[None]],
) -> str:
    stub = outage.stub
    email = unique_email("bench")
    await register(stub, email)
    _, session_id = await login(stub, email)
    metadata = session_metadata(session_id)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "GetMe": lambda: stub.GetMe(pb.GetMeRequest(), metadata=metadata, timeout=5),
        "FindByEmail": lambda: stub.FindByEmail(
            pb.FindByEmailRequest(email=email), metadata=metadata, timeout=5
        ),
        "Register": lambda: outage.register(timeout=5),
        "Login": lambda: stub.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=5),
    }
    timeline = Timeline()
    stop = asyncio.Event()

    async def caller(rpc: str) -> None:
        while not stop.is_set():
            started = time.monotonic()
            code = await outcome(calls[rpc]())
            timeline.calls.append((rpc, started, time.monotonic(), code))
            if code != grpc.StatusCode.OK:
                await asyncio.sleep(0.01)

    async def health_poller() -> None:
        health = health_pb2_grpc.HealthStub(outage.channel)
        while not stop.is_set():
            response = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
            timeline.health.append((time.monotonic(), response.status))
            await asyncio.sleep(0.05)

    tasks = [
        asyncio.create_task(caller(rpc))
        for rpc in (affected, unaffected)
        for _ in range(CALLERS_EACH)
    ]
    tasks.append(asyncio.create_task(health_poller()))
    began = time.monotonic()
    await asyncio.sleep(HEALTHY_SECONDS)
    faulted = time.monotonic()
    await fault()
    await asyncio.sleep(OUTAGE_SECONDS)
    await back()  # a restart returns once the server answers again
    returned = time.monotonic()
    await asyncio.sleep(RECOVERY_SECONDS)
    stop.set()
    await asyncio.gather(*tasks)
    await outage.restore()

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value * 1000:.0f} ms"

    baseline = timeline.rate(unaffected, began, faulted)
    during = timeline.rate(unaffected, faulted + 0.5, returned)
    detected = timeline.first(affected, grpc.StatusCode.UNAVAILABLE, faulted)
    return (
        f"| {name} | {affected}: {ms(detected)}"
        f" | {ms(timeline.first_health(NOT_SERVING, faulted))}"
        f" | {ms(timeline.slowest(affected, faulted, returned))}"
        f" | {unaffected}: {during:.0f}/s ({during / baseline:.2f}x of {baseline:.0f}/s)"
        f" | {ms(timeline.first(affected, grpc.StatusCode.OK, returned))}"
        f" | {ms(timeline.first_health(SERVING, returned))}"
        f" | {', '.join(sorted(timeline.odd_codes())) or 'none'} |"
    )


async def main() -> None:
    configure_logging("ERROR", "json")
    rows = []
    async with running_outage(
        health={"check_interval_seconds": 2.0, "check_timeout_seconds": 1.0},
        logging={"level": "ERROR"},
    ) as outage:
        redis, postgres = outage.redis, outage.postgres

        async def freeze_redis() -> None:
            redis.freeze()

        async def thaw_redis() -> None:
            redis.thaw()

        async def kill_redis() -> None:
            redis.kill()

        async def freeze_postgres() -> None:
            postgres.freeze()

        async def thaw_postgres() -> None:
            postgres.thaw()

        async def kill_postgres() -> None:
            postgres.kill()

        scenarios = [
            ("Redis frozen (SIGSTOP)", "GetMe", "Register", freeze_redis, thaw_redis),
            # Login, not GetMe: a killed Redis (no persistence here) loses the sessions.
            ("Redis killed, restarted", "Login", "Register", kill_redis, redis.start),
            ("PostgreSQL frozen", "FindByEmail", "GetMe", freeze_postgres, thaw_postgres),
            ("PostgreSQL killed, restarted", "Register", "GetMe", kill_postgres, postgres.start),
        ]
        for scenario in scenarios:
            rows.append(await run_scenario(outage, *scenario))
    print(
        f"{CALLERS_EACH * 2} callers; healthy {HEALTHY_SECONDS:.0f} s (baseline),"
        f" outage {OUTAGE_SECONDS:.0f} s, recovery {RECOVERY_SECONDS:.0f} s; default settings\n"
    )
    print(
        "| fault | first UNAVAILABLE | NOT_SERVING | slowest answer during the outage"
        " | unaffected RPC during the outage | first OK after the return | SERVING again"
        " | other codes |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    asyncio.run(main())
