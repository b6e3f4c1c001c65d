"""Soak: the service as production runs it, under steady load, must not err or grow.

``make soak`` starts ``python -m app serve`` with the production defaults (no
``config/local.yaml``: JSON logs at INFO, metrics on, the outbox relay inside,
real argon2 parameters), on a database and Redis key prefix of its own, and
drives it with concurrent callers over one channel each:

* most callers read: GetMe, and FindByID of their own user, at random;
* one caller in sixteen hashes: Login and Register in turn.

After a warm-up it reads the server's resident memory, runs for the set time,
reads it again and reports requests, errors by code, throughput, latency and
memory growth. It fails (exit 1) on any error or on growth above 10 %.

Environment: ``SOAK_SECONDS`` (60), ``SOAK_WARMUP_SECONDS`` (15),
``SOAK_CALLERS`` (64).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from app.adapters.postgres.database import apply_migrations, ensure_database
from app.config import Settings
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.isolation import isolated_settings, remove_run_data
from tests.support.ports import free_port
from tests.support.processes import process_environment, start_process

MAX_GROWTH = 0.10
HASHING_SHARE = 16  # one caller in this many logs in and registers
MAX_CALLS_PER_CALLER = 200_000  # a bound on top of the time
PASSWORD = "soak password, long enough"


@dataclass
class SoakResult:
    seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    rss_after_warmup: int = 0
    rss_after_run: int = 0
    server_exit_code: int | None = None

    @property
    def growth(self) -> float:
        return self.rss_after_run / self.rss_after_warmup - 1

    @property
    def passed(self) -> bool:
        return not self.errors and self.growth <= MAX_GROWTH and self.server_exit_code == 0


def resident_bytes(pid: int) -> int:
    """The process's resident set size (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Caller:
    """One client with its own user, session and channel."""

    stub: pb_grpc.UserServiceAsyncStub
    user: pb.User
    metadata: tuple[tuple[str, str], ...]
    hashing: bool
    rng: random.Random

    def next_call(self) -> tuple[str, Callable[[], Awaitable[object]]]:
        stub = self.stub
        if self.hashing:
            if self.rng.random() < 0.5:
                request = pb.LoginRequest(email=self.user.email, password=PASSWORD)
                return "Login", lambda: stub.Login(request, timeout=30)
            registration = _registration()
            return "Register", lambda: stub.Register(registration, timeout=30)
        if self.rng.random() < 0.5:
            return "GetMe", lambda: stub.GetMe(
                pb.GetMeRequest(), metadata=self.metadata, timeout=30
            )
        find = pb.FindByIDRequest(uuid=self.user.uuid)
        return "FindByID", lambda: stub.FindByID(find, metadata=self.metadata, timeout=30)


def _registration() -> pb.RegisterRequest:
    return pb.RegisterRequest(
        email=f"soak-{uuid.uuid4().hex[:16]}@example.com",
        first_name="Soak",
        last_name="Caller",
        password=PASSWORD,
    )


async def _new_caller(channel: grpc.aio.Channel, index: int, hashing: bool) -> Caller:
    stub = pb_grpc.UserServiceStub(channel)
    registration = _registration()
    await stub.Register(registration, timeout=30)
    login = await stub.Login(
        pb.LoginRequest(email=registration.email, password=PASSWORD), timeout=30
    )
    return Caller(
        stub, login.user, (("session_id", login.session_id),), hashing, random.Random(index)
    )


async def _drive(caller: Caller, until: float, result: SoakResult) -> None:
    for _ in range(MAX_CALLS_PER_CALLER):
        if time.monotonic() >= until:
            return
        method, call = caller.next_call()
        started = time.perf_counter()
        try:
            await call()
        except grpc.aio.AioRpcError as err:
            result.errors[(method, err.code().name)] += 1
        result.calls[method] += 1
        result.latencies.setdefault(method, []).append(time.perf_counter() - started)


async def _wait_until_serving(port: int, seconds: float) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        async with asyncio.timeout(seconds):
            while True:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    response = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if response.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def production_service(
    settings: Settings, log: Path, **variables: str
) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    """``python -m app serve`` with the production defaults on ``settings``' stores.

    Yields its gRPC port and the process, and stops it with SIGTERM (with a
    short drain, so the soak ends quickly); its log goes to ``log``.
    ``variables`` are added to its environment.
    """
    production_config = log.with_suffix(".yaml")
    production_config.write_text("{}\n")  # no config/local.yaml: the defaults
    environment = process_environment(
        settings,
        **{
            "APP_CONFIG_FILE": str(production_config),
            "APP_EVENTS__RELAY_ENABLED": "true",
            "APP_METRICS__HOST": "127.0.0.1",
            "APP_METRICS__PORT": str(free_port()),
            "APP_GRPC__DRAIN_SECONDS": "0.5",
            **variables,
        },
    )
    with log.open("wb") as output:
        process = await start_process(["serve"], environment, output=output)
        try:
            port = int(environment["APP_GRPC__PORT"])
            await _wait_until_serving(port, seconds=60)
            yield port, process
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def soak(
    settings: Settings, *, seconds: float, warmup_seconds: float, callers: int, log: Path
) -> SoakResult:
    """Run the soak against a fresh service process on ``settings``' stores."""
    dsn = settings.postgres.dsn.get_secret_value()
    await ensure_database(dsn, connect_timeout=settings.postgres.connect_timeout_seconds)
    await apply_migrations(dsn)
    result = SoakResult()
    async with production_service(settings, log) as (port, process):
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(callers)]
        try:
            signing_up = asyncio.Semaphore(8)  # under the hashing RPCs' concurrency limit

            async def new_caller(index: int) -> Caller:
                async with signing_up:
                    return await _new_caller(
                        channels[index], index, hashing=index % HASHING_SHARE == 0
                    )

            pool = await asyncio.gather(*(new_caller(index) for index in range(callers)))
            warm = time.monotonic() + warmup_seconds
            warmup = SoakResult()
            await asyncio.gather(*(_drive(caller, warm, warmup) for caller in pool))
            result.errors.update(warmup.errors)
            result.rss_after_warmup = resident_bytes(process.pid)
            started = time.monotonic()
            until = started + seconds
            await asyncio.gather(*(_drive(caller, until, result) for caller in pool))
            result.seconds = time.monotonic() - started
            result.rss_after_run = resident_bytes(process.pid)
        finally:
            for channel in channels:
                await channel.close()
    result.server_exit_code = process.returncode
    return result


def report(result: SoakResult, callers: int) -> str:
    total = sum(result.calls.values())
    lines = [
        f"soak: {callers} callers, {result.seconds:.1f} s after warm-up",
        f"requests: {total} ({total / result.seconds:.0f}/s),"
        f" errors: {sum(result.errors.values())}",
    ]
    for method, count in sorted(result.calls.items()):
        timings = sorted(result.latencies[method])
        p50 = timings[len(timings) // 2] * 1000
        p99 = timings[int(0.99 * (len(timings) - 1))] * 1000
        lines.append(f"  {method:9} {count:8} calls  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")
    for (method, code), count in sorted(result.errors.items()):
        lines.append(f"  error {method} {code}: {count}")
    lines.append(
        f"resident memory: {result.rss_after_warmup / 2**20:.1f} MiB after warm-up,"
        f" {result.rss_after_run / 2**20:.1f} MiB after the run ({result.growth:+.1%},"
        f" limit +{MAX_GROWTH:.0%})"
    )
    lines.append(f"service stopped cleanly: {result.server_exit_code == 0}")
    return "\n".join(lines)


async def main() -> int:
    seconds = float(os.environ.get("SOAK_SECONDS", "60"))
    warmup = float(os.environ.get("SOAK_WARMUP_SECONDS", "15"))
    callers = int(os.environ.get("SOAK_CALLERS", "64"))
    settings = isolated_settings("soak", uuid.uuid4().hex[:10])
    try:
        with tempfile.TemporaryDirectory() as directory:
            result = await soak(
                settings,
                seconds=seconds,
                warmup_seconds=warmup,
                callers=callers,
                log=Path(directory) / "service.log",
            )
    finally:
        await remove_run_data(settings)
    print(report(result, callers))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
