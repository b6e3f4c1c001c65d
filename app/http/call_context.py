"""A Connect call seen through the gRPC servicer context the servicer and the layers read.

The servicer and the edge's layers (``app/grpc/``) read a call's metadata,
peer, deadline and final code, and end it with ``abort_with_status``; this
adapter answers those from the Connect request, so one servicer and one set of
layers serve both ports. What a unary Connect call has no use for (streams,
compression, peer certificates) raises ``NotImplementedError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import grpc
from connectrpc.request import RequestContext
from google.rpc import status_pb2
from grpc_status import rpc_status

_DETAILS_KEY = "grpc-status-details-bin"


def grpc_peer(client_address: str | None) -> str:
    """The ASGI client ``host:port`` written as gRPC writes a peer (``ipv4:1.2.3.4:5555``)."""
    if not client_address:
        return ""
    host, _, port = client_address.rpartition(":")
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


class ConnectCallContext(grpc.aio.ServicerContext[Any, Any]):
    """One Connect call as a gRPC servicer context: metadata, peer, deadline, status."""

    #: The call's ``rpc.system`` in OpenTelemetry's RPC semantic conventions.
    rpc_system = "connect_rpc"

    def __init__(self, request: RequestContext[Any, Any]) -> None:
        self._request = request
        self._metadata = grpc.aio.Metadata(*request.request_headers.allitems())
        self._peer = grpc_peer(request.client_address)
        self._status: status_pb2.Status | None = None

    @property
    def status(self) -> status_pb2.Status | None:
        """The status the call was ended with (None until it is)."""
        return self._status

    def invocation_metadata(self) -> grpc.aio.Metadata:
        """The request's headers, names in lower case, as gRPC hands metadata."""
        return self._metadata

    def peer(self) -> str:
        return self._peer

    # None without a deadline, as grpc.aio answers (its type stubs say float).
    def time_remaining(self) -> float | None:  # type: ignore[override]
        remaining_ms = self._request.timeout_ms
        return None if remaining_ms is None else max(remaining_ms / 1000, 0.0)

    # None until the call ends, as grpc.aio answers (its type stubs say StatusCode).
    def code(self) -> grpc.StatusCode | None:  # type: ignore[override]
        if self._status is None:
            return None
        return _CODES_BY_VALUE[self._status.code]

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        """Remember ``status`` (its details from its trailer) and end the call, as gRPC does."""
        details = dict(status.trailing_metadata).get(_DETAILS_KEY)
        if isinstance(details, bytes):
            self._status = status_pb2.Status.FromString(details)
        else:
            self._status = status_pb2.Status(code=status.code.value[0], message=status.details)
        raise grpc.aio.AbortError()

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()
    ) -> NoReturn:
        await self.abort_with_status(rpc_status.to_status(_plain_status(code, details)))

    # What the service never uses on a unary call, and Connect has no counterpart for.
    def _unsupported(self, *_: Any, **__: Any) -> NoReturn:
        raise NotImplementedError("not available on a Connect call")

    read: Callable[..., Any] = _unsupported
    write: Callable[..., Any] = _unsupported
    send_initial_metadata: Callable[..., Any] = _unsupported
    set_trailing_metadata: Callable[..., Any] = _unsupported
    set_code: Callable[..., Any] = _unsupported
    set_details: Callable[..., Any] = _unsupported
    set_compression: Callable[..., Any] = _unsupported
    disable_next_message_compression: Callable[..., Any] = _unsupported
    peer_identities: Callable[..., Any] = _unsupported
    peer_identity_key: Callable[..., Any] = _unsupported
    auth_context: Callable[..., Any] = _unsupported


def _plain_status(code: grpc.StatusCode, message: str) -> status_pb2.Status:
    return status_pb2.Status(code=code.value[0], message=message)


_CODES_BY_VALUE: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}
