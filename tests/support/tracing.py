"""A service with tracing on, exporting its spans to memory, for the tracing tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.bootstrap import build_application
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import make_settings
from tests.support.passwords import cheap_passwords_for

SERVICE = "userService.UserService"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Traced:
    """A service with tracing on, exporting to memory, and a stub to call it."""

    def __init__(self, application: Application, exporter: InMemorySpanExporter) -> None:
        self.application = application
        self.exporter = exporter
        self.stub: pb_grpc.UserServiceAsyncStub

    def finished_spans(self) -> list[ReadableSpan]:
        """Every span ended so far, flushed from the batch processor first."""
        assert self.application.telemetry.tracing is not None
        self.application.telemetry.tracing.force_flush()
        return list(self.exporter.get_finished_spans())

    async def server_span(self, method: str, trace_id: int | None = None) -> ReadableSpan:
        """The latest SERVER span of ``method`` (the span ends after the reply is sent)."""
        deadline = time.monotonic() + 10
        while True:
            spans = [
                span
                for span in self.finished_spans()
                if span.kind is SpanKind.SERVER
                and span.name == f"{SERVICE}/{method}"
                and (trace_id is None or span.context.trace_id == trace_id)
            ]
            if spans:
                return spans[-1]
            assert time.monotonic() < deadline, f"no server span for {method}"
            await asyncio.sleep(0.02)

    def trace_of(self, root: ReadableSpan) -> list[ReadableSpan]:
        return [
            s
            for s in self.exporter.get_finished_spans()
            if s.context.trace_id == root.context.trace_id
        ]


@contextlib.asynccontextmanager
async def traced_service() -> AsyncIterator[Traced]:
    """A service of its own with tracing on; stopped when the block ends."""
    exporter = InMemorySpanExporter()
    settings = make_settings(tracing={"enabled": True})
    traced = await build_application(
        settings, span_exporter=exporter, passwords=cheap_passwords_for(settings)
    )
    await traced.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{traced.port}")
    service = Traced(traced, exporter)
    service.stub = pb_grpc.UserServiceStub(channel)
    try:
        yield service
    finally:
        await channel.close()
        await traced.stop(grace=0.5)
