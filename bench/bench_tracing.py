"""What tracing (and metrics) cost per RPC, against tracing off, measured in one run.

Four configurations of the same service, one after the other, each measured on
three read paths with sequential calls from one client:

* **off**: no tracing, no metrics (the baseline; the OpenTelemetry API is a no-op);
* **metrics**: ``/metrics`` on, tracing off;
* **tracing, ratio 0**: tracing on, every trace sampled out;
* **tracing, ratio 1**: every span recorded and handed to a BatchSpanProcessor
  whose exporter drops them (the export itself happens off the request path).

The paths: GetMe (one Redis GETEX), FindByID on a cache hit (GETEX + GET) and
FindByEmail (GETEX + one PostgreSQL SELECT). Results are p50 ratios to the
baseline of the same path. The run makes its own database and key prefix and
removes both; ``BENCH_CALLS`` sets the calls per measurement. Each configuration
runs in a process of its own (OpenTelemetry's provider is process-wide).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from harness import bench_settings, measure, percentile, running
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.observability.setup.logging import configure_logging
from tests.support.isolation import remove_run_data

CONFIGURATIONS: list[tuple[str, dict[str, dict[str, Any]], str]] = [
    ("off", {}, "1"),
    ("metrics", {"metrics": {"enabled": True}}, "1"),
    ("tracing, ratio 0", {"tracing": {"enabled": True}}, "0"),
    ("tracing, ratio 1", {"tracing": {"enabled": True}}, "1"),
]


# Marks the child's result line among its log lines (stdout too).
RESULT = "result: "


class DroppingExporter(SpanExporter):
    """Accepts every batch and keeps nothing: the cost measured is the service's own."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


async def paths(stub: pb_grpc.UserServiceAsyncStub) -> dict[str, Callable[[], Awaitable[object]]]:
    """The read paths, for a user registered and logged in through ``stub``."""
    # A fresh address per configuration: id(stub) can repeat once a stub is freed.
    email = f"bench-tracing-{uuid.uuid4().hex[:12]}@example.com"
    password = "benchmark password"
    registered = await stub.Register(
        pb.RegisterRequest(email=email, first_name="B", last_name="T", password=password)
    )
    login = await stub.Login(pb.LoginRequest(email=email, password=password))
    metadata = (("session_id", login.session_id),)
    by_id = pb.FindByIDRequest(uuid=registered.user.uuid)
    await stub.FindByID(by_id, metadata=metadata)  # fills the cache
    return {
        "GetMe": lambda: stub.GetMe(pb.GetMeRequest(), metadata=metadata),
        "FindByID (cache hit)": lambda: stub.FindByID(by_id, metadata=metadata),
        "FindByEmail": lambda: stub.FindByEmail(
            pb.FindByEmailRequest(email=email), metadata=metadata
        ),
    }


async def measure_configuration(name: str) -> dict[str, list[float]]:
    """Seconds per call of each path, for the configuration ``name``, in this process."""
    # As the service logs in production (JSON), but only warnings: the per-call
    # log line would otherwise dominate what is measured.
    configure_logging("WARNING", "json")
    [(sections, ratio)] = [(sections, ratio) for n, sections, ratio in CONFIGURATIONS if n == name]
    # The SDK reads its sampler from the standard variables when tracing starts.
    os.environ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
    os.environ["OTEL_TRACES_SAMPLER_ARG"] = ratio
    settings = bench_settings(**sections)
    try:
        async with (
            running(settings, span_exporter=DroppingExporter()) as application,
            grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel,
        ):
            calls = await paths(pb_grpc.UserServiceStub(channel))
            return {path: await measure(call) for path, call in calls.items()}
    finally:
        await remove_run_data(settings)


def main() -> None:
    """Each configuration in a fresh process: OpenTelemetry's provider and sampler are
    process-wide, and one configuration must not warm up or slow down the next."""
    results: dict[str, dict[str, list[float]]] = {}
    for name, _, _ in CONFIGURATIONS:
        child = subprocess.run(
            [sys.executable, __file__, "--configuration", name],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
        [line] = [line for line in child.stdout.splitlines() if line.startswith(RESULT)]
        results[name] = json.loads(line.removeprefix(RESULT))
    report(results)


def report(results: dict[str, dict[str, list[float]]]) -> None:
    baseline = results["off"]
    calls = len(next(iter(baseline.values())))
    print(f"Tracing overhead: {calls} sequential calls per cell, one client, one instance")
    print(f"{'':20} {'path':22} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8} {'p50 ratio':>10}")
    for name, measured in results.items():
        for path, timings in measured.items():
            ratio = percentile(timings, 0.5) / percentile(baseline[path], 0.5)
            print(
                f"{name:20} {path:22} {percentile(timings, 0.5):8.0f}"
                f" {percentile(timings, 0.99):8.0f} {statistics.fmean(timings) * 1e6:8.0f}"
                f" {ratio:9.2f}x"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configuration", help="measure one configuration, print JSON")
    arguments = parser.parse_args()
    if arguments.configuration:
        print(RESULT + json.dumps(asyncio.run(measure_configuration(arguments.configuration))))
    else:
        main()
