"""Spans leave the process over OTLP/gRPC, as Jaeger's native receiver takes them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from app.bootstrap import Application
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.client import register
from tests.conftest import running_application


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
    application: Application, receiver: tuple[Receiver, int]
) -> None:
    servicer, port = receiver
    tracing = {"enabled": True, "endpoint": f"http://127.0.0.1:{port}", "insecure": True}
    async with running_application(tracing=tracing) as traced:
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
