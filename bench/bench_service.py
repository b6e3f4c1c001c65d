"""The service against the bare gRPC ceiling and the hashing limit, in one run.

The service runs as production runs it (``python -m app serve``, no local
config: JSON logs at INFO, metrics on, tracing on at 10 % exporting over OTLP
to a receiver this harness serves), on a database and Redis key prefix of its
own. A load generator in another process (h2load when installed, else a
grpc.aio client: see ``bench/load.py``) drives, each for ``BENCH_SECONDS``
and ``BENCH_REPEAT`` times (the median is reported; ``BENCH_HASHING_THREADS``
sets the service's hashing threads):

* the no-op ceiling (``bench/ceiling.py``) and the service's GetMe, FindByID
  (cache warm) and FindByEmail at ``BENCH_IN_FLIGHT`` calls in flight;
* Login (h2load) and Register (grpc.aio: each needs a new email) at the
  hashing methods' concurrency limit (16), against argon2id verifications per
  second with the service's parameters on as many threads as the service hashes
  on; the login throttle is configured not to refuse this workload (its free
  failures are huge);
* GetMe at 4 in flight alone, then during a Login flood (p99 ratio);
* GetMe and FindByID on a second service with tracing off, each round alternated
  with the traced one's, and what tracing adds to their CPU per call.

Errors are counted from the service's ``grpc_server_handled_total`` (h2load
sees HTTP 200 whatever the gRPC status). The server process's CPU per call is
measured beside each read and the no-op (``bench/cpu.py``); ``BENCH_CPU_ONLY=1``
measures only those (``make bench-cpu``). Prints a table with ratios and
writes ``bench/results/service-<time>.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import grpc
from ceiling import NOOP_METHOD, verifications_per_second
from cpu import CpuRow, cpu_table, with_cpu
from google.protobuf.message import Message
from load import GENERATOR, Load, h2load, python_client
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from soak import production_service

from app.adapters.postgres.database import apply_migrations, ensure_database
from app.config import PasswordSettings, Settings, usable_cpus
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.isolation import isolated_settings, remove_run_data
from tests.support.ports import free_port

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", "64"))
# Set: only the no-op and the reads, traced and not (the CPU table), not hashing.
CPU_ONLY = bool(os.environ.get("BENCH_CPU_ONLY"))
# The service's hashing threads (``passwords.max_workers``); unset: its default.
HASHING_THREADS = os.environ.get("BENCH_HASHING_THREADS")
HASHING_IN_FLIGHT = 16  # the hashing methods' default concurrency limit
LOW_IN_FLIGHT = 4
TRACING_OFF = ", tracing off"  # the suffix of the rows of the service with tracing off
SERVICE = "/userService.UserService"
PASSWORD = "benchmark password, long enough"
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


class SpanSink(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP receiver that counts the spans it is sent and keeps nothing."""

    def __init__(self) -> None:
        self.spans = 0

    async def Export(  # noqa: N802 - the generated name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.spans += len(scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@contextlib.asynccontextmanager
async def span_sink() -> AsyncIterator[tuple[int, SpanSink]]:
    sink = SpanSink()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port, sink
    finally:
        await server.stop(0)


async def wait_for_port(port: int, seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while True:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def noop_ceiling() -> AsyncIterator[tuple[int, int]]:
    """The no-op server in a process of its own: its port and process id."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "ceiling.py"), str(port)
    )
    try:
        await wait_for_port(port)
        yield port, process.pid
    finally:
        process.terminate()
        await process.wait()


def handled(metrics_port: int) -> dict[tuple[str, str], float]:
    """``grpc_server_handled_total`` by (method, code), read from the service."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
        text = page.read().decode()
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "grpc_server_handled":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = (sample.labels["grpc_method"], sample.labels["grpc_code"])
                counts[key] = counts.get(key, 0) + sample.value
    return counts


@dataclass
class Service:
    port: int
    metrics_port: int
    pid: int
    session_id: str = ""
    user_id: str = ""
    email: str = ""
    flood_email: str = ""  # another user's: logins past its session cap end old sessions

    def errors(self, before: dict[tuple[str, str], float], method: str) -> dict[str, int]:
        """Calls of ``method`` that did not end OK since ``before``, by code."""
        after = handled(self.metrics_port)
        return {
            code: int(count - before.get((name, code), 0))
            for (name, code), count in after.items()
            if name == method and code != "OK" and count > before.get((name, code), 0)
        }


@dataclass
class Row:
    name: str
    loads: list[Load] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    cpu_per_call: list[float] = field(default_factory=list)  # microseconds, one per load

    @property
    def rate(self) -> float:
        return float(statistics.median(load.rate for load in self.loads))

    def percentile(self, quantile: float) -> float:
        return float(statistics.median(load.percentile(quantile) for load in self.loads))


async def drive(
    port: int,
    method: str,
    request: Message,
    *,
    in_flight: int = IN_FLIGHT,
    metadata: tuple[tuple[str, str], ...] = (),
    response_type: type[Message] = pb.User,
) -> Load:
    if GENERATOR == "h2load":
        return await h2load(
            port, method, request, seconds=SECONDS, in_flight=in_flight, metadata=metadata
        )
    return await python_client(
        port,
        method,
        request,
        response_type,
        seconds=SECONDS,
        in_flight=in_flight,
        metadata=metadata,
    )


async def measured(
    rows: dict[str, Row],
    name: str,
    service: Service | None,
    method: str,
    run: Callable[[], Awaitable[Load]],
    *,
    pid: int | None = None,
) -> Load:
    """``run`` as the row ``name``: its load, the failures of ``method`` it met (read from
    ``service``'s metrics) and, given ``pid``, that server process's CPU per call."""
    before = handled(service.metrics_port) if service else {}
    row = rows.setdefault(name, Row(name))
    if pid is None:
        load = await run()
    else:
        load, window = await with_cpu(pid, run())
        row.cpu_per_call.append(window.per_call(load))
    row.loads.append(load)
    if service is not None:
        row.errors.update(service.errors(before, method))
    return load


def registration() -> pb.RegisterRequest:
    return pb.RegisterRequest(
        email=f"bench-{uuid.uuid4().hex[:16]}@example.com",
        first_name="Bench",
        last_name="Mark",
        password=PASSWORD,
    )


async def sign_up(service: Service) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        request = registration()
        await stub.Register(request, timeout=30)
        login = await stub.Login(pb.LoginRequest(email=request.email, password=PASSWORD))
        service.session_id, service.user_id = login.session_id, login.user.uuid
        service.email = request.email
        flooder = registration()
        await stub.Register(flooder, timeout=30)
        service.flood_email = flooder.email
        # The cache is filled on the first FindByID.
        await stub.FindByID(
            pb.FindByIDRequest(uuid=service.user_id),
            metadata=(("session_id", service.session_id),),
        )


async def reads(rows: dict[str, Row], service: Service, suffix: str = "") -> None:
    session = (("session_id", service.session_id),)
    port = service.port
    await measured(
        rows,
        f"GetMe{suffix}",
        service,
        "GetMe",
        lambda: drive(port, f"{SERVICE}/GetMe", pb.GetMeRequest(), metadata=session),
        pid=service.pid,
    )
    await measured(
        rows,
        f"FindByID, cache hit{suffix}",
        service,
        "FindByID",
        lambda: drive(
            port, f"{SERVICE}/FindByID", pb.FindByIDRequest(uuid=service.user_id), metadata=session
        ),
        pid=service.pid,
    )
    if suffix:
        return
    await measured(
        rows,
        "FindByEmail",
        service,
        "FindByEmail",
        lambda: drive(
            port,
            f"{SERVICE}/FindByEmail",
            pb.FindByEmailRequest(email=service.email),
            metadata=session,
        ),
        pid=service.pid,
    )


async def hashing(rows: dict[str, Row], service: Service) -> None:
    port = service.port
    login = pb.LoginRequest(email=service.flood_email, password=PASSWORD)
    session = (("session_id", service.session_id),)

    async def flood() -> Load:
        return await drive(
            port,
            f"{SERVICE}/Login",
            login,
            in_flight=HASHING_IN_FLIGHT,
            response_type=pb.LoginResponse,
        )

    await measured(rows, "Login", service, "Login", flood)
    await measured(
        rows,
        "Register",
        service,
        "Register",
        lambda: python_client(
            port,
            f"{SERVICE}/Register",
            registration,
            pb.RegisterResponse,
            seconds=SECONDS,
            in_flight=HASHING_IN_FLIGHT,
        ),
    )

    def low() -> Awaitable[Load]:
        request = pb.GetMeRequest()
        return drive(port, f"{SERVICE}/GetMe", request, in_flight=LOW_IN_FLIGHT, metadata=session)

    await measured(rows, "GetMe at 4 in flight", service, "GetMe", low)
    flooding = asyncio.create_task(flood())
    await asyncio.sleep(1.5)  # the flood is past its warm-up
    try:
        await measured(rows, "GetMe at 4 in flight, Login flood", service, "GetMe", low)
    finally:
        await flooding


@contextlib.asynccontextmanager
async def service(settings: Settings, log: Path, **variables: str) -> AsyncIterator[Service]:
    metrics_port = free_port()
    environment = {
        "APP_METRICS__PORT": str(metrics_port),
        "APP_THROTTLING__ACCOUNT_FREE_FAILURES": "1000",
        **({"APP_PASSWORDS__MAX_WORKERS": HASHING_THREADS} if HASHING_THREADS else {}),
        **variables,
    }
    async with production_service(settings, log, **environment) as (port, process):
        running = Service(port, metrics_port, process.pid)
        await sign_up(running)
        yield running


def table(rows: dict[str, Row], ceiling: float, hashing_limit: float) -> list[dict[str, Any]]:
    summary = []
    for row in rows.values():
        hashing_row = row.name in {"Login", "Register"}
        against = hashing_limit if hashing_row else ceiling
        summary.append(
            {
                "workload": row.name,
                "requests_per_second": round(row.rate, 1),
                "p50_ms": round(row.percentile(0.5), 2),
                "p99_ms": round(row.percentile(0.99), 2),
                "errors": dict(row.errors),
                "share": round(row.rate / against, 3) if against else None,
                "share_of": "hashing limit" if hashing_row else "no-op ceiling",
            }
        )
    return summary


def ratios(rows: dict[str, Row]) -> dict[str, float]:
    def rate(name: str) -> float:
        return rows[name].rate

    return {
        "GetMe p99 during a Login flood / alone": rows[
            "GetMe at 4 in flight, Login flood"
        ].percentile(0.99)
        / max(rows["GetMe at 4 in flight"].percentile(0.99), 1e-9),
        "GetMe cost of tracing at 10 % (1 - traced/off)": 1
        - rate("GetMe") / rate("GetMe, tracing off"),
        "FindByID cost of tracing at 10 % (1 - traced/off)": 1
        - rate("FindByID, cache hit") / rate("FindByID, cache hit, tracing off"),
    }


def failed(errors: dict[str, int]) -> int:
    """Calls that failed: all but those cancelled by the generator as its window closed."""
    return sum(count for code, count in errors.items() if code != "Canceled")


def report(summary: list[dict[str, Any]], extra: dict[str, float], limits: dict[str, Any]) -> str:
    lines = [
        f"service benchmark: generator {GENERATOR}, {SECONDS:g} s x {REPEAT} (median),"
        f" {IN_FLIGHT} in flight (hashing {HASHING_IN_FLIGHT}), {usable_cpus()} CPUs",
        f"service hashing threads: {limits['hashing_threads']}"
        f" ({'BENCH_HASHING_THREADS' if HASHING_THREADS else 'default: usable CPUs - 1, >= 1'})",
        f"no-op ceiling {limits['noop_ceiling']:.0f} req/s; hashing limit"
        f" {limits['hashing_limit']:.1f} argon2id verifications/s on"
        f" {limits['hashing_threads']} threads",
        *workload_lines(summary),
    ]
    lines += [f"{name}: {value:.2f}" for name, value in extra.items()]
    return "\n".join(lines)


def workload_lines(summary: list[dict[str, Any]]) -> list[str]:
    """The table of workloads (from :func:`table`): a header, then a line each."""
    lines = [f"{'workload':36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'share':>7}"]
    for row in summary:
        lines.append(
            f"{row['workload']:36} {row['requests_per_second']:9.1f} {row['p50_ms']:8.2f}"
            f" {row['p99_ms']:8.2f} {failed(row['errors']):7d} {row['share']:7.2f}"
            f"  of the {row['share_of']} {row['errors'] or ''}"
        )
    return lines


def traced_variables(otlp_port: int) -> dict[str, str]:
    """Tracing as production runs it: on, 10 % sampled, exported over OTLP to ``otlp_port``."""
    return {
        "APP_TRACING__ENABLED": "true",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }


async def migrated_bench_settings() -> Settings:
    """Settings on a database and Redis key prefix of this run's own, the database migrated."""
    settings = isolated_settings("bench", uuid.uuid4().hex[:10])
    dsn = settings.postgres.dsn.get_secret_value()
    await ensure_database(dsn, connect_timeout=settings.postgres.connect_timeout_seconds)
    await apply_migrations(dsn)
    return settings


def write_result(kind: str, **fields: Any) -> None:
    """``bench/results/<kind>-<time>.json``: the run's shape, then ``fields``."""
    moment = time.gmtime()
    result = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", moment),
        "generator": GENERATOR,
        "seconds": SECONDS,
        "repeat": REPEAT,
        "in_flight": IN_FLIGHT,
        "cpus": usable_cpus(),
        **fields,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', moment)}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {path}")


def cpu_report(rows: dict[str, Row]) -> list[dict[str, Any]]:
    """Print the CPU table of the rows measured with the server's CPU; return it as data."""
    measured_rows = [
        CpuRow(row.name, statistics.median(row.cpu_per_call), row.rate)
        for row in rows.values()
        if row.cpu_per_call
    ]
    lines, data = cpu_table(measured_rows[0], measured_rows[1:])
    print(f"server CPU per call ({GENERATOR}, {IN_FLIGHT} in flight, {SECONDS:g} s x {REPEAT})")
    print("\n".join(lines))
    for name, extra in tracing_costs(rows).items():
        print(f"{name}: {extra:+.1%} CPU per call")
    return data


def tracing_costs(rows: dict[str, Row]) -> dict[str, float]:
    """What tracing at 10 % adds to each read's median CPU per call, against tracing off."""
    costs = {}
    for name, row in rows.items():
        off = rows.get(name + TRACING_OFF)
        if off is not None and row.cpu_per_call and off.cpu_per_call:
            traced, untraced = (
                statistics.median(row.cpu_per_call),
                statistics.median(off.cpu_per_call),
            )
            costs[f"{name}: tracing at 10 % adds"] = traced / untraced - 1
    return costs


async def main() -> None:
    settings = await migrated_bench_settings()
    rows: dict[str, Row] = {}
    passwords = PasswordSettings(max_workers=int(HASHING_THREADS) if HASHING_THREADS else None)
    # The limit on as many threads as the service hashes on, so Login's share is like for like.
    threads = passwords.worker_count()
    hashing_limits = []
    spans = 0
    try:
        with tempfile.TemporaryDirectory() as directory:
            async with span_sink() as (otlp_port, sink), noop_ceiling() as (noop_port, noop_pid):
                traced = traced_variables(otlp_port)
                log = Path(directory) / "service.log"
                untraced_log = Path(directory) / "untraced.log"
                async with (
                    service(settings, log, **traced) as running,
                    service(settings, untraced_log, APP_TRACING__ENABLED="false") as untraced,
                ):
                    for _ in range(REPEAT):
                        await measured(
                            rows,
                            "no-op ceiling",
                            None,
                            "",
                            lambda: drive(noop_port, NOOP_METHOD, pb.GetMeRequest()),
                            pid=noop_pid,
                        )
                        await reads(rows, running)
                        # Alternated with the traced reads, so both see the same machine.
                        await reads(rows, untraced, TRACING_OFF)
                        if CPU_ONLY:
                            continue
                        await hashing(rows, running)
                        hashing_limits.append(
                            await asyncio.to_thread(
                                verifications_per_second,
                                memory_cost_kib=passwords.memory_cost_kib,
                                time_cost=passwords.time_cost,
                                parallelism=passwords.parallelism,
                                threads=threads,
                                seconds=SECONDS,
                            )
                        )
                spans = sink.spans
                if CPU_ONLY:
                    cpu_report(rows)
                    return
    finally:
        await remove_run_data(settings)
    cpu = cpu_report(rows)
    ceiling = rows.pop("no-op ceiling").rate
    limits = {
        "noop_ceiling": ceiling,
        "hashing_limit": statistics.median(hashing_limits),
        "hashing_threads": threads,
    }
    summary = table(rows, ceiling, limits["hashing_limit"])
    extra = ratios(rows)
    print(report(summary, extra, limits))
    print(f"spans received by the OTLP receiver: {spans}")
    write_result(
        "service",
        service_hashing_threads=HASHING_THREADS,
        limits=limits,
        workloads=summary,
        ratios=extra,
        spans_exported=spans,
        cpu=cpu,
    )


if __name__ == "__main__":
    asyncio.run(main())
