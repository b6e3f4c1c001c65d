"""Per-call limits at the edge: concurrent calls per method, and time to receive a request.

Only the methods of ``userService.UserService`` have concurrency limits, so a
flood of one method (or of stalled streams) never makes a health check fail.

- :class:`ConcurrencyLimitLayer` admits at most N calls of a method at
  once (``grpc.method_concurrency``, ``grpc.method_concurrency_default``), at
  most a share of them from one client (``grpc.method_concurrency_client_share``),
  and refuses the next at once with RESOURCE_EXHAUSTED. It counts a call from
  the moment its request has arrived, unlike grpc.aio's
  ``maximum_concurrent_rpcs``, which counts streams whose body never comes.
- :class:`ReceiveTimeoutLayer` gives a unary call (health's Check too)
  ``grpc.receive_timeout_seconds`` between its headers and its request message;
  a stream that stalls after its headers is ended with DEADLINE_EXCEEDED
  instead of staying open for as long as the connection lives. gRPC core has
  no such option, hence this one. Such a call, and one whose client closed
  without sending a request, is handed to the layers inside as an
  :class:`~app.grpc.layers.UnreceivedRequest`: traced, counted and
  logged like any other call, and answered by the innermost layer.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterable, Mapping, Sequence
from typing import Any

import grpc
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from app.domain.errors import ServerBusy
from app.grpc.context import Context
from app.grpc.errors import RequestNotReceived, UndecodableRequest, abort_with, rich_status_for
from app.grpc.layers import (
    Behavior,
    Handler,
    UnaryEdgeLayer,
    UnreceivedRequest,
)
from app.grpc.metadata import Network, client_from
from app.grpc.service_contract import METHOD_NAMES as _METHOD_NAMES
from app.grpc.service_contract import SERVICE_NAME
from app.grpc.service_contract import method_path as _path

logger = structlog.get_logger("app.rpc")


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


class ConcurrencyLimitLayer(UnaryEdgeLayer):
    """At most ``limits[method]`` (else ``default``) calls of each UserService method at once,
    and at most ``client_share`` of them (at least one) from one client.

    The client is the caller's ``address_group`` as the servicer reads it
    (behind ``trusted_proxies``, the forwarded address). Without the share, one
    client's burst takes every slot and everyone else is refused; with it, one
    client holds at most its share while the rest stay free for the others.
    """

    def __init__(
        self,
        limits: Mapping[str, int],
        default: int,
        metrics: LimitMetrics | None = None,
        *,
        client_share: float = 1.0,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self._limits = {_path(name): limits.get(name, default) for name in _METHOD_NAMES}
        self._client_limits = {
            method: max(1, int(limit * client_share)) for method, limit in self._limits.items()
        }
        self._in_flight = dict.fromkeys(self._limits, 0)
        self._by_client: dict[str, collections.Counter[str]] = {
            method: collections.Counter() for method in self._limits
        }
        self._trusted_proxies = trusted_proxies
        self._metrics = metrics
        if metrics is not None:
            for name in _METHOD_NAMES:
                metrics.limit.labels(SERVICE_NAME, name).set(self._limits[_path(name)])
                metrics.refused.labels(SERVICE_NAME, name)

    async def intercept_unary(
        self, behavior: Behavior, request: Any, context: Context, method: str
    ) -> Any:
        limit = self._limits.get(method)
        if limit is None or isinstance(request, UnreceivedRequest):
            return await behavior(request, context)
        client = client_from(
            context.invocation_metadata(), context.peer(), self._trusted_proxies
        ).address_group
        by_client = self._by_client[method]
        if self._in_flight[method] >= limit or by_client[client] >= self._client_limits[method]:
            if self._metrics is not None:
                self._metrics.refused.labels(SERVICE_NAME, method.rpartition("/")[2]).inc()
            await abort_with(context, rich_status_for(ServerBusy()))
        # One event loop: the check above and these increments cannot interleave.
        self._in_flight[method] += 1
        by_client[client] += 1
        try:
            return await behavior(request, context)
        finally:
            self._in_flight[method] -= 1
            by_client[client] -= 1
            if not by_client[client]:
                del by_client[client]


class ReceiveTimeoutLayer:
    """Ends a unary call whose request has not arrived ``timeout`` seconds after its headers.

    The unary handler is served as a stream-unary one (the same bytes on the
    wire) so that reading the single request message can be bounded. Put it
    first (outermost): the interceptors inside it see the unary call as before.
    A call whose request does not come is handed on as an
    :class:`UnreceivedRequest` (DEADLINE_EXCEEDED after the timeout,
    INVALID_ARGUMENT when the client closed without one), so the layers inside
    trace, count and log it like any other and the innermost one ends it.
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
            request: Any
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
                request = UnreceivedRequest(RequestNotReceived(timeout))
            except StopAsyncIteration:
                # The client closed its side without sending the request.
                request = UnreceivedRequest(UndecodableRequest())
            return await behavior(request, context)

        return grpc.stream_unary_rpc_method_handler(
            receive_then_handle,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def limit_metrics(registry: CollectorRegistry | None) -> LimitMetrics | None:
    """The limits' metrics on ``registry``; None when metrics are off."""
    return None if registry is None else LimitMetrics(registry)
