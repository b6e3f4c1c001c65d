"""Interceptors that make every RPC visible: a server span, and the gRPC server metrics.

The metric names and labels are those of the Go ecosystem's gRPC Prometheus
middleware (``grpc_server_handled_total{grpc_type,grpc_service,grpc_method,
grpc_code}`` and friends, codes spelled as Go spells them), so dashboards and
alerts written for Go services work unchanged.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.grpc.context import Context
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.health import SERVICE_NAME
from app.grpc.interceptors import (
    Behavior,
    EdgeLayer,
    Handler,
    UnaryServerInterceptor,
    call_code,
)
from app.observability.telemetry import Telemetry

# Prometheus' default buckets, as the Go middleware uses.
HANDLING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_UNTRACED_SERVICES = frozenset({"grpc.health.v1.Health"})

_tracer = trace.get_tracer("app.grpc")


def split_method(method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` → ``("pkg.Service", "Method")``."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service or "unknown", name


def go_code_name(code: grpc.StatusCode) -> str:
    """The code as Go's ``codes.Code.String()`` writes it: ``InvalidArgument``, ``Canceled``."""
    if code is grpc.StatusCode.OK:
        return "OK"
    if code is grpc.StatusCode.CANCELLED:
        return "Canceled"
    return "".join(part.capitalize() for part in code.name.split("_"))


def _peer_attributes(peer: str | None) -> dict[str, str | int]:
    # grpc peers look like ``ipv4:127.0.0.1:5555`` or ``ipv6:[::1]:5555``.
    if not peer or not peer.startswith(("ipv4:", "ipv6:")):
        return {}
    address, _, port = peer.split(":", 1)[1].rpartition(":")
    if not port.isdigit():
        return {}
    return {"network.peer.address": address.strip("[]"), "network.peer.port": int(port)}


class ServerTracingInterceptor(UnaryServerInterceptor):
    """One SERVER span per unary RPC, continuing the caller's W3C ``traceparent``.

    Named ``package.Service/Method`` with the RPC semantic-convention
    attributes; a call that does not end OK gets status ERROR and its code in
    ``rpc.grpc.status_code``. An exception that escapes the inner interceptors
    is recorded; aborts are not (the domain error is already on the layer span
    that raised it), nor cancellations (the status says CANCELLED). Health
    checks are not traced: probes would drown the rest.
    """

    def wrap(self, handler: Handler, method: str) -> Handler:
        if split_method(method)[0] in _UNTRACED_SERVICES:
            return handler
        return super().wrap(handler, method)

    async def intercept_unary(
        self, behavior: Behavior, request: Any, context: Context, method: str
    ) -> Any:
        service, name = split_method(method)
        carrier = {
            key: value
            for key, value in (context.invocation_metadata() or ())
            if isinstance(value, str)
        }
        attributes: dict[str, str | int] = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": name,
            **_peer_attributes(context.peer()),
        }
        with _tracer.start_as_current_span(
            f"{service}/{name}",
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            error: BaseException | None = None
            try:
                return await behavior(request, context)
            except (grpc.aio.AbortError, asyncio.CancelledError) as ended:
                error = ended
                raise
            except BaseException as err:
                error = err
                span.record_exception(err)
                raise
            finally:
                code = call_code(context, error)
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code is not grpc.StatusCode.OK:
                    span.set_status(Status(StatusCode.ERROR, code.name))


class GrpcServerMetrics:
    """The standard gRPC server metrics, registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter(
            "grpc_server_started",
            "Total number of RPCs started on the server.",
            labels,
            registry=registry,
        )
        self.handled = Counter(
            "grpc_server_handled",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            [*labels, "grpc_code"],
            registry=registry,
        )
        self.received = Counter(
            "grpc_server_msg_received",
            "Total number of RPC stream messages received on the server.",
            labels,
            registry=registry,
        )
        self.sent = Counter(
            "grpc_server_msg_sent",
            "Total number of gRPC stream messages sent by the server.",
            labels,
            registry=registry,
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level "
            "handled by the server.",
            labels,
            buckets=HANDLING_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "grpc_server_in_flight_requests",
            "RPCs being handled by the server right now.",
            labels,
            registry=registry,
        )

    def initialize(self, grpc_type: str, service: str, methods: list[str]) -> None:
        """Export zeros for ``methods`` before their first call, as the Go middleware does."""
        for method in methods:
            labels = (grpc_type, service, method)
            self.started.labels(*labels)
            self.handled.labels(*labels, go_code_name(grpc.StatusCode.OK))
            self.handling.labels(*labels)
            self.in_flight.labels(*labels)


class ServerMetricsInterceptor:
    """Counts and times every RPC, unary and streaming, with its final status code."""

    def __init__(self, metrics: GrpcServerMetrics) -> None:
        self._metrics = metrics

    def wrap(self, handler: Handler, method: str) -> Handler:
        labels = (_grpc_type(handler), *split_method(method))
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, labels),  # type: ignore[arg-type]
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        behavior = handler.unary_stream or handler.stream_unary or handler.stream_stream
        wrap = (
            grpc.unary_stream_rpc_method_handler
            if handler.unary_stream is not None
            else grpc.stream_unary_rpc_method_handler
            if handler.stream_unary is not None
            else grpc.stream_stream_rpc_method_handler
        )
        return wrap(
            self._streaming(behavior, labels, handler.request_streaming),  # type: ignore[arg-type]
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _unary(self, behavior: Behavior, labels: tuple[str, str, str]) -> Behavior:
        metrics = self._metrics

        async def around(request: Any, context: Context) -> Any:
            with _Call(metrics, labels, context):
                metrics.received.labels(*labels).inc()
                response = await behavior(request, context)
                metrics.sent.labels(*labels).inc()
                return response

        return around

    def _streaming(
        self, behavior: Callable[..., Any], labels: tuple[str, str, str], request_streaming: bool
    ) -> Callable[..., Any]:
        metrics = self._metrics

        def requests(request: Any) -> Any:
            if not request_streaming:
                metrics.received.labels(*labels).inc()
                return request
            return _counted(request, metrics.received.labels(*labels))

        if inspect.isasyncgenfunction(behavior):

            async def around_generator(request: Any, context: Context) -> Any:
                with _Call(metrics, labels, context):
                    sent = metrics.sent.labels(*labels)
                    async for response in behavior(requests(request), context):
                        sent.inc()
                        yield response

            return around_generator

        async def around(request: Any, context: Context) -> Any:
            # Responses written with ``context.write`` go past this wrapper uncounted.
            with _Call(metrics, labels, context):
                response = await behavior(requests(request), context)
                if response is not None:
                    metrics.sent.labels(*labels).inc()
                return response

        return around


class _Call:
    """One RPC's bookkeeping: started and in flight on entry, handled and timed on exit."""

    def __init__(
        self,
        metrics: GrpcServerMetrics,
        labels: tuple[str, str, str],
        context: Context,
    ) -> None:
        self._metrics = metrics
        self._labels = labels
        self._context = context
        self._started = 0.0

    def __enter__(self) -> _Call:
        self._metrics.started.labels(*self._labels).inc()
        self._metrics.in_flight.labels(*self._labels).inc()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, error_type: type[BaseException] | None, error: BaseException | None, *_: object
    ) -> None:
        metrics, labels = self._metrics, self._labels
        metrics.handling.labels(*labels).observe(time.perf_counter() - self._started)
        metrics.in_flight.labels(*labels).dec()
        code = call_code(self._context, error)
        metrics.handled.labels(*labels, go_code_name(code)).inc()


async def _counted(requests: AsyncIterator[Any], counter: Any) -> AsyncIterator[Any]:
    async for request in requests:
        counter.inc()
        yield request


def _grpc_type(handler: Handler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


def telemetry_interceptors(telemetry: Telemetry) -> list[EdgeLayer]:
    """The layers ``telemetry`` calls for, outermost first: tracing, then metrics.

    Tracing outermost puts the trace id on the log lines of the inner
    interceptors; metrics outside logging and errors see the final status code.
    """
    interceptors: list[EdgeLayer] = []
    if telemetry.tracing is not None:
        interceptors.append(ServerTracingInterceptor())
    if telemetry.registry is not None:
        metrics = GrpcServerMetrics(telemetry.registry)
        service = pb.DESCRIPTOR.services_by_name["UserService"]
        metrics.initialize("unary", SERVICE_NAME, [method.name for method in service.methods])
        interceptors.append(ServerMetricsInterceptor(metrics))
    return interceptors
