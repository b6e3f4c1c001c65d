"""Server interceptors: the edge where errors become statuses and RPCs are logged.

Both wrap unary-unary handlers only (every UserService method is one); the
streaming handlers of reflection and health pass through untouched.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import structlog
from grpc_status import rpc_status

from app.domain.errors import DomainError
from app.grpc.errors import INTERNAL_MESSAGE, rich_status_for, status_for

Context = grpc.aio.ServicerContext[Any, Any]
Behavior = Callable[[Any, Context], Awaitable[Any]]

logger = structlog.get_logger("app.rpc")


class UnaryServerInterceptor(grpc.aio.ServerInterceptor, abc.ABC):
    """Base for interceptors that run code around each unary-unary call."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behavior: Behavior = handler.unary_unary  # type: ignore[assignment]
        method: str = handler_call_details.method

        async def around(request: Any, context: Context) -> Any:
            return await self.intercept_unary(behavior, request, context, method)

        return grpc.unary_unary_rpc_method_handler(
            around,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    @abc.abstractmethod
    async def intercept_unary(
        self,
        behavior: Behavior,
        request: Any,
        context: Context,
        method: str,
    ) -> Any:
        """Call ``behavior(request, context)`` and return its response."""


class ErrorInterceptor(UnaryServerInterceptor):
    """Domain errors become their status; anything else becomes a generic INTERNAL.

    An error with details (``RetryInfo`` of a throttled call) is sent as a
    ``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer.

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
            rich = rich_status_for(err)
            if rich is not None:
                await context.abort_with_status(rpc_status.to_status(rich))
            await context.abort(status_for(err), err.public_message)
        except Exception:
            logger.exception("unexpected error", method=method)
            await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


def call_code(context: Context, failed: bool) -> grpc.StatusCode:
    """The status the call ends with, as far as the server side can tell."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK


class LoggingInterceptor(UnaryServerInterceptor):
    """One log line per RPC: method, status code, duration and peer."""

    async def intercept_unary(
        self, behavior: Behavior, request: Any, context: Context, method: str
    ) -> Any:
        started = time.perf_counter()
        failed = False
        try:
            return await behavior(request, context)
        except BaseException:
            failed = True
            raise
        finally:
            code = call_code(context, failed)
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
