"""The server span: one SERVER span per unary RPC, continuing the caller's trace."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from opentelemetry import context as trace_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context as TraceContext
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, Status, StatusCode

from app.grpc.context import Context
from app.grpc.edge import split_method
from app.grpc.layers import Behavior, Handler, UnaryEdgeLayer, call_code
from app.grpc.metadata import parse_peer

_UNTRACED_SERVICES = frozenset({"grpc.health.v1.Health"})
_NO_PARENT = TraceContext()


def _suppressed_context() -> TraceContext:
    """An empty context with the library instrumentations suppressed, made once."""
    token = trace_context.attach(TraceContext())
    try:
        with suppress_instrumentation():
            return trace_context.get_current()
    finally:
        trace_context.detach(token)


def _peer_attributes(peer: str | None) -> dict[str, str | int]:
    parsed = parse_peer(peer)
    if not parsed.address:
        return {}
    return {"network.peer.address": parsed.address, "network.peer.port": parsed.port}


class ServerTracingLayer(UnaryEdgeLayer):
    """One SERVER span per unary RPC, continuing the caller's W3C ``traceparent``.

    Named ``package.Service/Method`` with the RPC semantic-convention
    attributes; a call that does not end OK gets status ERROR and its code in
    ``rpc.grpc.status_code``. An exception that escapes the inner layers
    is recorded; aborts are not (the domain error is already on the layer span
    that raised it), nor cancellations (the status says CANCELLED). Health
    checks are not traced: probes would drown the rest.

    A call whose trace is sampled out costs the span's start and little else:
    its attributes are set only on a recording span (the SDK's samplers do not
    read them), and the call runs with the library instrumentations suppressed,
    in one context attached once: the span over an empty context made at
    start-up with the suppression set (this layer is the outermost to touch
    OpenTelemetry's context, so the call's own context holds nothing else).
    """

    def __init__(self) -> None:
        # Taken when the edge is built, after the telemetry set-up installed the
        # tracer provider: the provider's own tracer, not the API's proxy, whose
        # every span goes through one more context manager.
        self._tracer = trace.get_tracer("app.grpc")
        # The headers the configured propagators read (``OTEL_PROPAGATORS``).
        self._propagated_fields = frozenset(propagate.get_global_textmap().fields)
        # Each traced method's span name, service and method name, worked out once.
        self._names: dict[str, tuple[str, str, str]] = {}
        self._sampled_out_base = _suppressed_context()

    def wrap(self, handler: Handler, method: str) -> Handler:
        service, name = split_method(method)
        if service in _UNTRACED_SERVICES:
            return handler
        self._names[method] = (f"{service}/{name}", service, name)
        return super().wrap(handler, method)

    async def intercept_unary(
        self, behavior: Behavior, request: Any, context: Context, method: str
    ) -> Any:
        span_name, service, name = self._names[method]
        fields = self._propagated_fields
        carrier = {
            key: value
            for key, value in (context.invocation_metadata() or ())
            if key in fields and isinstance(value, str)
        }
        span = self._tracer.start_span(
            span_name,
            # Without any of the propagators' headers, extracting yields an empty
            # context (a root span) whatever it runs; most calls have none.
            context=propagate.extract(carrier) if carrier else _NO_PARENT,
            kind=SpanKind.SERVER,
            record_exception=False,
            set_status_on_exception=False,
        )
        if not span.is_recording():
            # Sampled out: no attributes to compute, and no SQL or Redis spans
            # either; the library instrumentations would only make spans to drop
            # them. The span stays current for the log lines' trace id.
            token = trace_context.attach(trace.set_span_in_context(span, self._sampled_out_base))
            try:
                return await behavior(request, context)
            finally:
                trace_context.detach(token)
        with trace.use_span(
            span, end_on_exit=True, record_exception=False, set_status_on_exception=False
        ):
            span.set_attributes(
                {
                    # A Connect call's context names its own system (app/http/).
                    "rpc.system": getattr(context, "rpc_system", "grpc"),
                    "rpc.service": service,
                    "rpc.method": name,
                    **_peer_attributes(context.peer()),
                }
            )
            return await _recorded(span, behavior, request, context)


async def _recorded(span: trace.Span, behavior: Behavior, request: Any, context: Context) -> Any:
    """``behavior``'s call with its outcome on ``span``: the status code, an escaping error."""
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
