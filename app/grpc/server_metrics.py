"""The gRPC server metrics: every RPC counted and timed with its final status code.

The metric names and labels are those of the Go ecosystem's gRPC Prometheus
middleware (``grpc_server_handled_total{grpc_type,grpc_service,grpc_method,
grpc_code}`` and friends, codes spelled as Go spells them), so dashboards and
alerts written for Go services work unchanged.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.grpc.context import Context
from app.grpc.edge import split_method
from app.grpc.layers import Behavior, Handler, call_code

# Prometheus' default buckets, as the Go middleware uses.
HANDLING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def go_code_name(code: grpc.StatusCode) -> str:
    """The code as Go's ``codes.Code.String()`` writes it: ``InvalidArgument``, ``Canceled``."""
    if code is grpc.StatusCode.OK:
        return "OK"
    if code is grpc.StatusCode.CANCELLED:
        return "Canceled"
    return "".join(part.capitalize() for part in code.name.split("_"))


class GrpcServerMetrics:
    """The standard gRPC server metrics, registered on one registry."""

    def __init__(self, registry: CollectorRegistry, prefix: str = "grpc_server") -> None:
        """``prefix`` names the metrics: another protocol's face counts in metrics of its own."""
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter(
            f"{prefix}_started",
            "Total number of RPCs started on the server.",
            labels,
            registry=registry,
        )
        self.handled = Counter(
            f"{prefix}_handled",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            [*labels, "grpc_code"],
            registry=registry,
        )
        self.received = Counter(
            f"{prefix}_msg_received",
            "Total number of RPC stream messages received on the server.",
            labels,
            registry=registry,
        )
        self.sent = Counter(
            f"{prefix}_msg_sent",
            "Total number of gRPC stream messages sent by the server.",
            labels,
            registry=registry,
        )
        self.handling = Histogram(
            f"{prefix}_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level "
            "handled by the server.",
            labels,
            buckets=HANDLING_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            f"{prefix}_in_flight_requests",
            "RPCs being handled by the server right now.",
            labels,
            registry=registry,
        )

    def initialize(self, grpc_type: str, service: str, methods: Iterable[str]) -> None:
        """Export zeros for ``methods`` before their first call, as the Go middleware does."""
        for method in methods:
            labels = (grpc_type, service, method)
            self.started.labels(*labels)
            self.handled.labels(*labels, go_code_name(grpc.StatusCode.OK))
            self.handling.labels(*labels)
            self.in_flight.labels(*labels)


class MethodSeries:
    """One method's series, bound once when the server is built.

    A ``labels()`` lookup costs several times the update it leads to, so the
    series a call always touches are bound here; ``handled`` is bound per
    status code on the first call that ends with it.
    """

    def __init__(self, metrics: GrpcServerMetrics, labels: tuple[str, str, str]) -> None:
        self._metrics = metrics
        self._labels = labels
        self.started = metrics.started.labels(*labels)
        self.in_flight = metrics.in_flight.labels(*labels)
        self.handling = metrics.handling.labels(*labels)
        self.received = metrics.received.labels(*labels)
        self.sent = metrics.sent.labels(*labels)
        self._handled: dict[grpc.StatusCode, Any] = {}

    def handled(self, code: grpc.StatusCode) -> Any:
        """The ``grpc_server_handled`` series of calls of this method that ended with ``code``."""
        series = self._handled.get(code)
        if series is None:
            series = self._metrics.handled.labels(*self._labels, go_code_name(code))
            self._handled[code] = series
        return series


class ServerMetricsLayer:
    """Counts and times every RPC, unary and streaming, with its final status code."""

    def __init__(self, metrics: GrpcServerMetrics) -> None:
        self._metrics = metrics

    def wrap(self, handler: Handler, method: str) -> Handler:
        series = MethodSeries(self._metrics, (_grpc_type(handler), *split_method(method)))
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, series),  # type: ignore[arg-type]
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
            _streaming(behavior, series, handler.request_streaming),  # type: ignore[arg-type]
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _unary(behavior: Behavior, series: MethodSeries) -> Behavior:
    async def around(request: Any, context: Context) -> Any:
        with _Call(series, context):
            series.received.inc()
            response = await behavior(request, context)
            series.sent.inc()
            return response

    return around


def _streaming(
    behavior: Callable[..., Any], series: MethodSeries, request_streaming: bool
) -> Callable[..., Any]:
    def requests(request: Any) -> Any:
        if not request_streaming:
            series.received.inc()
            return request
        return _counted(request, series.received)

    if inspect.isasyncgenfunction(behavior):

        async def around_generator(request: Any, context: Context) -> Any:
            with _Call(series, context):
                async for response in behavior(requests(request), context):
                    series.sent.inc()
                    yield response

        return around_generator

    async def around(request: Any, context: Context) -> Any:
        # Responses written with ``context.write`` go past this wrapper uncounted.
        with _Call(series, context):
            response = await behavior(requests(request), context)
            if response is not None:
                series.sent.inc()
            return response

    return around


class _Call:
    """One RPC's bookkeeping: started and in flight on entry, handled and timed on exit."""

    __slots__ = ("_context", "_series", "_started")

    def __init__(self, series: MethodSeries, context: Context) -> None:
        self._series = series
        self._context = context
        self._started = 0.0

    def __enter__(self) -> _Call:
        self._series.started.inc()
        self._series.in_flight.inc()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, error_type: type[BaseException] | None, error: BaseException | None, *_: object
    ) -> None:
        series = self._series
        series.handling.observe(time.perf_counter() - self._started)
        series.in_flight.dec()
        series.handled(call_code(self._context, error)).inc()


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
