"""Every UserService RPC over Connect, served by the gRPC method's handler in its layers.

Each method's handler is wrapped once, at start-up, in the same layers as on
the gRPC port (tracing, metrics, logging, limits, the error table, store
deadlines, malformed requests: see ``app/bootstrap/http.py``); a Connect call
runs it with a :class:`~app.http.call_context.ConnectCallContext`. The status
a layer ends the call with becomes a :class:`~connectrpc.errors.ConnectError`
carrying the same code, message and details (ErrorInfo, BadRequest, RetryInfo),
which Connect writes as its JSON error (HTTP 400, 401, 429…) or, for gRPC-Web,
as the status trailers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
import structlog
from connectrpc.code import Code
from connectrpc.codec import Codec
from connectrpc.compat import google_protobuf_codecs
from connectrpc.errors import ConnectError, ErrorDetail
from connectrpc.request import RequestContext
from google.rpc import status_pb2
from protobuf.wkt import Any as AnyMessage

from app.grpc.layers import Behavior, Handler, MalformedRequest
from app.http.call_context import ConnectCallContext

ConnectMethod = Callable[[Any, RequestContext[Any, Any]], Awaitable[Any]]


_CONNECT_CODES = {
    code.value[0]: Code.CANCELED if code is grpc.StatusCode.CANCELLED else Code[code.name]
    for code in grpc.StatusCode
    if code is not grpc.StatusCode.OK
}


def connect_error_of(status: status_pb2.Status) -> ConnectError:
    """``status`` as Connect's error: its code, message and each detail as it was packed."""
    details = [
        ErrorDetail(AnyMessage(type_url=detail.type_url, value=detail.value))
        for detail in status.details
    ]
    return ConnectError(_CONNECT_CODES.get(status.code, Code.UNKNOWN), status.message, details)


class ConnectService:
    """The generated Connect service's methods, each served by its wrapped gRPC handler.

    The generated application looks the methods up by their Python names
    (``get_me``); every one is :meth:`call`, which finds the handler by the
    RPC's name in the call's method info (``GetMe``), so the two never drift.
    """

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self._behaviors: dict[str, Behavior] = {}
        for name, handler in handlers.items():
            if handler.unary_unary is None:
                raise ValueError(f"{name} is not unary: the layers must keep it so")
            self._behaviors[name] = handler.unary_unary  # type: ignore[assignment]

    def __getattr__(self, name: str) -> ConnectMethod:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.call

    async def call(self, request: Any, ctx: RequestContext[Any, Any]) -> Any:
        """Serve one Connect call of ``ctx.method`` through the gRPC method's layers."""
        context = ConnectCallContext(ctx)
        with structlog.contextvars.bound_contextvars(protocol="connect"):
            try:
                return await self._behaviors[ctx.method.name](request, context)
            except grpc.aio.AbortError:
                status = context.status
                assert status is not None, "abort_with_status records the status"
                raise connect_error_of(status) from None


class TolerantCodec:
    """A codec whose undecodable request becomes a :class:`MalformedRequest`.

    As on the gRPC port, the layers then answer it (INVALID_ARGUMENT
    ``MALFORMED_REQUEST`` with a BadRequest), and trace, count and log it as an
    invalid call, never as a fault. The complaint kept is the decoder's, never
    the body, which may hold a password; its class only, as a JSON parser's
    message can quote the value it could not read.
    """

    def __init__(self, codec: Codec[Any, Any]) -> None:
        self._codec = codec

    def name(self) -> str:
        return self._codec.name()

    def encode(self, message: Any) -> bytes:
        return self._codec.encode(message)

    def decode(self, data: bytes | bytearray, message_class: type[Any]) -> Any:
        try:
            return self._codec.decode(data, message_class)
        except Exception as err:  # json_format.ParseError, DecodeError, UnicodeDecodeError
            return MalformedRequest(type(err).__name__)


def tolerant_codecs() -> list[Codec[Any, Any]]:
    """Connect's codecs for google.protobuf messages (JSON and binary), each tolerant."""
    return [TolerantCodec(codec) for codec in google_protobuf_codecs()]
