"""The edge's layers where requests are decoded, errors become statuses and RPCs
are logged; each wraps a method's handler once, when the server is built
(``app/grpc/server.py`` composes them).

They wrap unary-unary handlers only (every UserService method is one, and
health's Check); the streaming handlers of reflection and health's Watch pass
through untouched.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import grpc
import structlog

from app.domain.errors import DomainError
from app.grpc.context import Context
from app.grpc.errors import (
    UndecodableRequest,
    abort_with,
    internal_status,
    log_fields_for,
    rich_status_for,
)

Behavior = Callable[[Any, Context], Awaitable[Any]]
Deserializer = Callable[[bytes], Any]
# A string: grpc's RpcMethodHandler is generic only in its type stubs.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

logger = structlog.get_logger("app.rpc")


class EdgeLayer(Protocol):
    """One layer of the edge: wraps a method's handler once, when the server is built."""

    def wrap(self, handler: Handler, method: str) -> Handler:
        """``handler`` of ``method`` (``/package.Service/Method``) with this layer around it."""
        ...


class UnaryEdgeLayer(abc.ABC):
    """Base for layers that run code around each unary-unary call.

    :meth:`wrap` builds the wrapped handler once per method at start-up (not
    per call, as a grpc.aio server interceptor would); streaming handlers pass
    through untouched.
    """

    def wrap(self, handler: Handler, method: str) -> Handler:
        if handler.unary_unary is None:
            return handler
        behavior: Behavior = handler.unary_unary  # type: ignore[assignment]

        async def around(request: Any, context: Context) -> Any:
            return await self.intercept_unary(behavior, request, context, method)

        return grpc.unary_unary_rpc_method_handler(
            around,
            request_deserializer=self.wrap_deserializer(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    def wrap_deserializer(self, deserializer: Deserializer | None) -> Deserializer | None:
        """The request deserializer of the wrapped handler (by default, the inner one's)."""
        return deserializer

    @abc.abstractmethod
    async def intercept_unary(
        self,
        behavior: Behavior,
        request: Any,
        context: Context,
        method: str,
    ) -> Any:
        """Call ``behavior(request, context)`` and return its response."""


class ErrorLayer(UnaryEdgeLayer):
    """Domain errors become their status; anything else becomes a generic INTERNAL.

    Either is sent with its details (an ErrorInfo always; a BadRequest or a
    RetryInfo where its row has one) as a ``google.rpc.Status`` in the
    ``grpc-status-details-bin`` trailer.

    The unexpected error itself, with its traceback and the trace id, goes to the
    log only: a client never sees internals.
    """

    async def intercept_unary(
        self, behavior: Behavior, request: Any, context: Context, method: str
    ) -> Any:
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except DomainError as err:
            # Seen by the ``rpc finished`` line: each call runs in a task of its own.
            structlog.contextvars.bind_contextvars(**log_fields_for(err))
            await abort_with(context, rich_status_for(err))
        except Exception:
            logger.exception("unexpected error", method=method)
            await abort_with(context, internal_status())


@dataclass(frozen=True, slots=True)
class MalformedRequest:
    """Handed on in place of a request that could not be decoded.

    ``error`` is the decoder's complaint (never the request's bytes, which may
    hold a password). Interceptors outside :class:`MalformedRequestLayer`
    must treat requests as opaque: one of them may be this.
    """

    error: str


def _tolerant(deserializer: Deserializer) -> Deserializer:
    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception as err:  # protobuf's DecodeError: bad wire format or bad UTF-8
            return MalformedRequest(f"{type(err).__name__}: {err}")

    return deserialize


@dataclass(frozen=True, slots=True)
class UnreceivedRequest:
    """Handed on in place of a request that never came (see ``app/grpc/limits.py``).

    The call ends with ``error``'s status in
    :class:`MalformedRequestLayer`, inside the layers that trace, count
    and log calls, so such a call is seen like any other.
    """

    error: DomainError


class MalformedRequestLayer(UnaryEdgeLayer):
    """A request that cannot be decoded answers INVALID_ARGUMENT "malformed request".

    grpc.aio decodes a request before any interceptor runs and answers a
    decoding failure with UNKNOWN and a traceback of its own. This interceptor
    swaps in a deserializer that never raises (it hands on a
    :class:`MalformedRequest`) and turns that into the status, inside the
    chain. Put it innermost, so the logging, metrics and tracing interceptors
    around it see the call like any other invalid one.
    """

    def wrap_deserializer(self, deserializer: Deserializer | None) -> Deserializer | None:
        return None if deserializer is None else _tolerant(deserializer)

    async def intercept_unary(
        self, behavior: Behavior, request: Any, context: Context, method: str
    ) -> Any:
        if isinstance(request, MalformedRequest):
            logger.info("malformed request", rpc_method=method, error=request.error)
            await abort_with(context, rich_status_for(UndecodableRequest()))
        if isinstance(request, UnreceivedRequest):
            await abort_with(context, rich_status_for(request.error))
        return await behavior(request, context)


DEADLINE_SLACK_SECONDS = 0.05


def call_code(context: Context, error: BaseException | None) -> grpc.StatusCode:
    """The status the call ends with, as far as the server side can tell.

    ``error`` is what escaped the handler (None if it returned). A handler
    cancelled under it ended CANCELLED, or DEADLINE_EXCEEDED when the
    caller's deadline has passed: grpc.aio cancels the handler in both cases.
    """
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError):
        remaining = context.time_remaining()
        # gRPC core cancels the handler at the deadline by its own clock; read a
        # moment later here, a sliver of the deadline can still seem to remain.
        if remaining is not None and remaining <= DEADLINE_SLACK_SECONDS:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class LoggingLayer(UnaryEdgeLayer):
    """One log line per RPC: method, status code, duration and peer."""

    async def intercept_unary(
        self, behavior: Behavior, request: Any, context: Context, method: str
    ) -> Any:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await behavior(request, context)
        except BaseException as escaped:
            error = escaped
            raise
        finally:
            code = call_code(context, error)
            log = logger.warning if code in _SERVER_FAULTS else logger.info
            log(
                "rpc finished",
                rpc_method=method,
                grpc_code=code.name,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                peer=context.peer(),
            )


_SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.DATA_LOSS,
    }
)
