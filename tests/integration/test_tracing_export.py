"""Spans leave the process over OTLP/gRPC, as Jaeger's native receiver takes them.

The exporter is the SDK's, configured by the standard variables; a collector
that does not answer costs one warning and at most a second at shutdown.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from datetime import datetime
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from app.config import Settings
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import running_application
from tests.support.client import register
from tests.support.logs import captured_logs
from tests.support.ports import free_port, silent_listener
from tests.support.processes import SUITE_MFA_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """A minimal OTLP trace receiver that keeps every request it is sent."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self._lock = threading.Lock()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[dict[str, str], str]]:
        """(resource attributes, span name) of every span received."""
        with self._lock:
            return [
                ({a.key: a.value.string_value for a in rs.resource.attributes}, span.name)
                for request in self.requests
                for rs in request.resource_spans
                for ss in rs.scope_spans
                for span in ss.spans
            ]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    # A thread-pool server: the exporter sends from its own thread, not the event loop.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(grace=None)


async def test_spans_arrive_at_an_otlp_receiver_with_the_service_name(
    application: Application, receiver: tuple[Receiver, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    servicer, port = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    async with running_application(tracing={"enabled": True}) as traced:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{traced.port}") as channel:
            await register(pb_grpc.UserServiceStub(channel))
        assert traced.telemetry.tracing is not None
        deadline = time.monotonic() + 10
        while not any(name.endswith("/Register") for _, name in servicer.spans()):
            assert time.monotonic() < deadline, "no Register span reached the receiver"
            await asyncio.to_thread(traced.telemetry.tracing.force_flush)

    names = {name for _, name in servicer.spans()}
    assert {"userService.UserService/Register", "UserUseCase.register"} <= names
    assert {resource["service.name"] for resource, _ in servicer.spans()} == {"user-service"}


@pytest.fixture(params=["refuses", "never answers"])
def absent_collector(request: pytest.FixtureRequest) -> Iterator[str]:
    """An OTLP endpoint where connections are refused, or accepted and never answered."""
    if request.param == "refuses":
        yield f"http://127.0.0.1:{free_port()}"
        return
    with silent_listener() as port:
        yield f"http://127.0.0.1:{port}"


async def test_a_collector_that_does_not_answer_costs_one_warning_and_under_a_second(
    application: Application, absent_collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", absent_collector)
    # Export every 50 ms, give up after 1 s: several failed batches while the test runs.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    with captured_logs() as log:
        async with running_application(tracing={"enabled": True}) as traced:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{traced.port}") as channel:
                stub = pb_grpc.UserServiceStub(channel)
                deadline = time.monotonic() + 15
                while "traces not exported" not in log.text:
                    assert time.monotonic() < deadline, "no warning about the collector"
                    await register(stub)
                    await asyncio.sleep(0.1)
                for _ in range(10):  # more failing batches, after the warning
                    await register(stub)
                    await asyncio.sleep(0.1)
            tracing = traced.telemetry.tracing
            assert tracing is not None
            started = time.monotonic()
            await asyncio.to_thread(tracing.shutdown)
            shutdown_seconds = time.monotonic() - started

    lines = log.text.splitlines()
    assert len([line for line in lines if "traces not exported" in line]) == 1, lines
    assert not [line for line in lines if "opentelemetry.exporter" in line], lines
    assert shutdown_seconds < 1.0


async def seconds_from_stopped_to_exit(
    settings: Settings, **variables: str
) -> tuple[float, list[dict[str, str]]]:
    """Run the service process, call it, SIGTERM it: seconds from its "stopped" line to
    its exit, and its JSON log lines."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("APP_", "OTEL_"))},
        "APP_GRPC__HOST": "127.0.0.1",
        "APP_GRPC__PORT": str(free_port()),
        "APP_HTTP__PORT": "0",
        "APP_POSTGRES__DSN": settings.postgres.dsn.get_secret_value(),
        "APP_POSTGRES__CREATE_DATABASE": "true",
        "APP_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "APP_METRICS__ENABLED": "false",
        "APP_EVENTS__RELAY_ENABLED": "false",
        "APP_LOGGING__FORMAT": "json",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **SUITE_MFA_ENVIRONMENT,
        **variables,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "serve",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[dict[str, str]] = []
    try:
        async with asyncio.timeout(60):
            while not lines or lines[-1].get("event") != "serving":
                line = await process.stdout.readline()
                assert line, f"exited early: {lines}"
                if line.startswith(b"{"):
                    lines.append(json.loads(line))
            port = environment["APP_GRPC__PORT"]
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                for _ in range(3):
                    await register(pb_grpc.UserServiceStub(channel))
            await asyncio.sleep(0.3)  # a batch goes out, and waits for the collector
            process.send_signal(signal.SIGTERM)
            rest, _ = await process.communicate()
            exited = time.time()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, lines
    lines += [json.loads(line) for line in rest.splitlines() if line.startswith(b"{")]
    [stopped] = [line for line in lines if line["event"] == "stopped"]
    return exited - datetime.fromisoformat(stopped["timestamp"]).timestamp(), lines


async def test_without_a_collector_the_process_exits_at_most_a_second_later(
    settings: Settings, absent_collector: str
) -> None:
    # The baseline, measured in the same run: the same process without tracing.
    baseline, _ = await seconds_from_stopped_to_exit(settings, OTEL_TRACES_EXPORTER="none")
    traced, lines = await seconds_from_stopped_to_exit(
        settings,
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=absent_collector,
    )

    assert traced - baseline < 1.0, (traced, baseline)
    events = [line["event"] for line in lines]
    assert len([e for e in events if e.startswith("traces not exported")]) <= 1
    assert not [line for line in lines if line.get("logger", "").startswith("opentelemetry")]
