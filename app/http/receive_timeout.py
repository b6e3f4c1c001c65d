"""The HTTP port's bound on receiving a request body, as ``grpc.receive_timeout_seconds`` is
on the gRPC port: a client that stalls after its headers is answered and let go."""

from __future__ import annotations

import asyncio

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.grpc.errors import RequestNotReceived, rich_status_for
from app.http.connect_service import connect_error_of

logger = structlog.get_logger("app.rpc")


class ReceiveTimeout:
    """Each wait for the next part of a request body lasts at most ``timeout`` seconds.

    Past it the call ends with ``deadline_exceeded`` and the gRPC port's reason
    (``REQUEST_NOT_RECEIVED``), raised where Connect reads the body, so Connect
    answers it in its error form. Once the body is complete, waits are not
    bounded: Connect then only watches for the client going away.
    """

    def __init__(self, application: ASGIApp, timeout: float) -> None:
        self._application = application
        self._timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._application(scope, receive, send)
            return
        body_done = False
        timeout = self._timeout

        async def bounded_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout(timeout):
                    message = await receive()
            except TimeoutError:
                logger.info(
                    "request not received in time",
                    rpc_method=scope["path"],
                    timeout_seconds=timeout,
                    protocol="connect",
                )
                raise connect_error_of(rich_status_for(RequestNotReceived(timeout))) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self._application(scope, bounded_receive, send)
