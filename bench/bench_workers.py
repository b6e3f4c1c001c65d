"""GetMe on N worker processes against the N-process no-op ceiling, beside one process.

Four workloads, interleaved in each of ``BENCH_REPEAT`` rounds (the median is
reported), all with the same generator, ``BENCH_IN_FLIGHT`` calls in flight
on ``BENCH_CONNECTIONS`` connections (16: the kernel spreads connections, not
calls, among the processes sharing a port, so a few connections could land
on one of them):

* the no-op ceiling (``bench/ceiling.py``) on one process, and on
  ``BENCH_WORKERS`` processes (default: the usable CPUs) sharing the port with
  ``SO_REUSEPORT``;
* the service's GetMe as production runs it (``bench_service.service``:
  tracing at 10 % over OTLP, JSON logs, metrics) with one process, and with
  ``APP_GRPC__WORKERS`` = ``BENCH_WORKERS``.

The target: GetMe's share of the ceiling with N workers at least 0.8 of its
share with one process. Prints a table and writes
``bench/results/workers-<time>.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from bench_service import (
    HERE,
    IN_FLIGHT,
    REPEAT,
    SECONDS,
    SERVICE,
    Row,
    Service,
    measured,
    migrated_bench_settings,
    service,
    span_sink,
    table,
    traced_variables,
    wait_for_port,
    workload_lines,
    write_result,
)
from ceiling import NOOP_METHOD
from load import GENERATOR, Load, h2load, python_client

from app.config import usable_cpus
from app.grpc.generated import user_service_pb2 as pb
from tests.support.isolation import remove_run_data
from tests.support.metrics import scrape
from tests.support.ports import free_port

WORKERS = max(int(os.environ.get("BENCH_WORKERS", str(usable_cpus()))), 2)
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))


@contextlib.asynccontextmanager
async def noop_ceiling(processes: int) -> AsyncIterator[int]:
    """The bare no-op server on ``processes`` processes sharing one port; yields the port."""
    port = free_port()
    reuse = ["--reuse-port"] if processes > 1 else []
    started = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "ceiling.py"), str(port), *reuse
        )
        for _ in range(processes)
    ]
    try:
        await wait_for_port(port)
        await asyncio.sleep(2)  # the others bind within this: they start alike
        yield port
    finally:
        for process in started:
            process.terminate()
            await process.wait()


async def drive(port: int, method: str, session: tuple[tuple[str, str], ...] = ()) -> Load:
    request = pb.GetMeRequest()
    if GENERATOR == "h2load":
        return await h2load(
            port,
            method,
            request,
            seconds=SECONDS,
            in_flight=IN_FLIGHT,
            metadata=session,
            connections=CONNECTIONS,
        )
    return await python_client(
        port, method, request, pb.User, seconds=SECONDS, in_flight=IN_FLIGHT, metadata=session
    )


async def calls_by_worker(metrics_port: int) -> dict[str, int]:
    """GetMe calls each worker handled, from the supervisor's ``/metrics``: how evenly
    the kernel spread the connections."""
    calls: Counter[str] = Counter()
    for sample in await scrape(metrics_port):
        if sample.name == "grpc_server_handled_total" and sample.labels["grpc_method"] == "GetMe":
            calls[sample.labels["worker"]] += int(sample.value)
    return dict(sorted(calls.items()))


async def one_round(
    rows: dict[str, Row], ceilings: dict[int, int], services: dict[int, Service]
) -> None:
    for processes, running in services.items():
        noop = functools.partial(drive, ceilings[processes], NOOP_METHOD)
        await measured(rows, f"no-op ceiling, {processes}", None, "", noop)
        get_me = functools.partial(
            drive, running.port, f"{SERVICE}/GetMe", (("session_id", running.session_id),)
        )
        await measured(rows, f"GetMe, {processes}", running, "GetMe", get_me)


def summary(rows: dict[str, Row]) -> dict[str, float]:
    def rate(name: str) -> float:
        return rows[name].rate

    one = rate("GetMe, 1") / rate("no-op ceiling, 1")
    many = rate(f"GetMe, {WORKERS}") / rate(f"no-op ceiling, {WORKERS}")
    return {
        "GetMe share of the ceiling, 1 process": one,
        f"GetMe share of the ceiling, {WORKERS} processes": many,
        f"share with {WORKERS} / share with 1 (target >= 0.8)": many / one,
        f"ceiling {WORKERS} processes / 1": rate(f"no-op ceiling, {WORKERS}")
        / rate("no-op ceiling, 1"),
        f"GetMe {WORKERS} workers / 1": rate(f"GetMe, {WORKERS}") / rate("GetMe, 1"),
    }


def report(rows: dict[str, Row], ratios: dict[str, float]) -> str:
    """Each workload with its share of the ceiling on as many processes, then the ratios."""
    summary = []
    for processes in (1, WORKERS):
        same = {name: row for name, row in rows.items() if name.endswith(f", {processes}")}
        ceiling = same[f"no-op ceiling, {processes}"].rate
        summary += table(same, ceiling, hashing_limit=0)
    lines = [
        f"workers benchmark: generator {GENERATOR}, {SECONDS:g} s x {REPEAT} (median),"
        f" {IN_FLIGHT} in flight on {CONNECTIONS} connections, {usable_cpus()} CPUs",
        "processes: the no-op ceiling's, or the service's workers (APP_GRPC__WORKERS)",
        *workload_lines(summary),
        *(f"{name}: {value:.2f}" for name, value in ratios.items()),
    ]
    return "\n".join(lines)


async def main() -> None:
    settings = await migrated_bench_settings()
    rows: dict[str, Row] = {}
    try:
        with tempfile.TemporaryDirectory() as directory:
            logs = Path(directory)
            async with (
                span_sink() as (otlp_port, _),
                noop_ceiling(1) as one_port,
                noop_ceiling(WORKERS) as many_port,
                service(settings, logs / "one.log", **traced_variables(otlp_port)) as one,
                service(
                    settings,
                    logs / "many.log",
                    APP_GRPC__WORKERS=str(WORKERS),
                    **traced_variables(otlp_port),
                ) as many,
            ):
                await wait_for_port(many.metrics_port)  # served once every worker is up
                for _ in range(REPEAT):
                    await one_round(
                        rows, {1: one_port, WORKERS: many_port}, {1: one, WORKERS: many}
                    )
                by_worker = await calls_by_worker(many.metrics_port)
    finally:
        await remove_run_data(settings)
    ratios = summary(rows)
    print(report(rows, ratios))
    print(f"GetMe calls by worker: {by_worker}")
    write_result(
        "workers",
        connections=CONNECTIONS,
        workers=WORKERS,
        requests_per_second={name: round(row.rate, 1) for name, row in rows.items()},
        ratios=ratios,
        get_me_calls_by_worker=by_worker,
    )


if __name__ == "__main__":
    asyncio.run(main())
