"""Per-call limits at the edge: concurrent calls per method, and time to receive a request.

Only the methods of ``userService.UserService`` have concurrency limits, so a
flood of one method (or of stalled streams) never makes a health check fail.

- :class:`ConcurrencyLimitInterceptor` admits at most N calls of a method at
  once (``grpc.method_concurrency``, ``grpc.method_concurrency_default``) and
  refuses the next at once with RESOURCE_EXHAUSTED. It counts a call from the
  moment its request has arrived, unlike grpc.aio's ``maximum_concurrent_rpcs``,
  which counts streams whose body never comes.
- :class:`ReceiveTimeoutInterceptor` gives a unary call (health's Check too)
  ``grpc.receive_timeout_seconds`` between its headers and its request message;
  a stream that stalls after its headers is ended with DEADLINE_EXCEEDED
  instead of staying open for as long as the connection lives. gRPC core has
  no such option, hence this one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Mapping
from typing import Any

import grpc
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from app.grpc.context import Context
from app.grpc.errors import BUSY_MESSAGE
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.health import SERVICE_NAME
from app.grpc.interceptors import (
    MALFORMED_REQUEST_MESSAGE,
    Behavior,
    Handler,
    UnaryServerInterceptor,
)

logger = structlog.get_logger("app.rpc")


_METHOD_NAMES = [method.name for method in pb.DESCRIPTOR.services_by_name["UserService"].methods]


def _path(method_name: str) -> str:
    return f"/{SERVICE_NAME}/{method_name}"


class LimitMetrics:
    """Refusals and receive timeouts per method, and each method's configured limit."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["grpc_service", "grpc_method"]
        self.refused = Counter(
            "grpc_server_concurrency_refused",
            "Calls refused with RESOURCE_EXHAUSTED because their method was at its limit.",
            labels,
            registry=registry,
        )
        self.limit = Gauge(
            "grpc_server_concurrency_limit",
            "Most calls of the method handled at once.",
            labels,
            registry=registry,
        )
        self.receive_timeouts = Counter(
            "grpc_server_receive_timeouts",
            "Calls ended because their request message did not arrive in time.",
            labels,
            registry=registry,
        )


class ConcurrencyLimitInterceptor(UnaryServerInterceptor):
    """At most ``limits[method]`` (else ``default``) calls of each UserService method at once."""

    def __init__(
        self,
        limits: Mapping[str, int],
        default: int,
        metrics: LimitMetrics | None = None,
    ) -> None:
        self._limits = {_path(name): limits.get(name, default) for name in _METHOD_NAMES}
        self._in_flight = dict.fromkeys(self._limits, 0)
        self._metrics = metrics
        if metrics is not None:
            for name in _METHOD_NAMES:
                metrics.limit.labels(SERVICE_NAME, name).set(self._limits[_path(name)])
                metrics.refused.labels(SERVICE_NAME, name)

    async def intercept_unary(
        self, behavior: Behavior, request: Any, context: Context, method: str
    ) -> Any:
        limit = self._limits.get(method)
        if limit is None:
            return await behavior(request, context)
        if self._in_flight[method] >= limit:
            if self._metrics is not None:
                self._metrics.refused.labels(SERVICE_NAME, method.rpartition("/")[2]).inc()
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, BUSY_MESSAGE)
        # One event loop: the check above and this increment cannot interleave.
        self._in_flight[method] += 1
        try:
            return await behavior(request, context)
        finally:
            self._in_flight[method] -= 1


class ReceiveTimeoutInterceptor:
    """Ends a unary call whose request has not arrived ``timeout`` seconds after its headers.

    The unary handler is served as a stream-unary one (the same bytes on the
    wire) so that reading the single request message can be bounded. Put it
    first (outermost): the interceptors inside it see the unary call as before,
    and a call ended here never reaches them (no span, no ``rpc finished``
    line, not in ``grpc_server_handled_total``): it is logged and counted here.
    """

    def __init__(self, timeout: float, metrics: LimitMetrics | None = None) -> None:
        self._timeout = timeout
        self._metrics = metrics

    def wrap(self, handler: Handler, method: str) -> Handler:
        if handler.unary_unary is None:
            return handler
        behavior: Behavior = handler.unary_unary  # type: ignore[assignment]
        timeout, metrics = self._timeout, self._metrics

        async def receive_then_handle(requests: AsyncIterable[Any], context: Context) -> Any:
            try:
                async with asyncio.timeout(timeout):
                    request = await anext(aiter(requests))
            except TimeoutError:
                if metrics is not None:
                    metrics.receive_timeouts.labels(*method.lstrip("/").rsplit("/", 1)).inc()
                logger.info(
                    "request not received in time",
                    rpc_method=method,
                    timeout_seconds=timeout,
                    peer=context.peer(),
                )
                await context.abort(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"request not received within {timeout:g} s",
                )
            except StopAsyncIteration:
                # The client closed its side without sending the request.
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED_REQUEST_MESSAGE)
            return await behavior(request, context)

        return grpc.stream_unary_rpc_method_handler(
            receive_then_handle,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def limit_metrics(registry: CollectorRegistry | None) -> LimitMetrics | None:
    """The limits' metrics on ``registry``; None when metrics are off."""
    return None if registry is None else LimitMetrics(registry)
