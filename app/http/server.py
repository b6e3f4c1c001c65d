"""The HTTP port: the Connect application, behind CORS, served by uvicorn in the service's loop.

The socket is bound when the server is built (a port in use fails start-up
before anything serves); :meth:`HttpServer.start` and :meth:`HttpServer.stop`
follow the gRPC server's: the lifecycle drains both, then stops both within
the same grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator, Mapping

import uvicorn
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import GrpcSettings, HttpSettings, TlsSettings
from app.grpc.generated.user_service_connect import UserServiceASGIApplication
from app.grpc.layers import Handler
from app.http.connect_service import ConnectService, tolerant_codecs
from app.http.explained_refusals import ExplainedRefusals
from app.http.receive_timeout import ReceiveTimeout

# What a browser page may send and read beyond the CORS-safelisted headers: the
# Connect and gRPC-Web protocol headers, and the service's own metadata.
CORS_REQUEST_HEADERS = (
    "Connect-Protocol-Version",
    "Connect-Timeout-Ms",
    "Grpc-Timeout",
    "X-Grpc-Web",
    "X-User-Agent",
    "Authorization",
    "Session_Id",
    "Device-Token",
    "Traceparent",
    "Tracestate",
)
CORS_RESPONSE_HEADERS = ("Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin")
STARTED_WITHIN_SECONDS = 10.0


def connect_application(
    handlers: Mapping[str, Handler], settings: HttpSettings, grpc: GrpcSettings
) -> ASGIApp:
    """Every UserService RPC over Connect, behind CORS for ``settings.cors_origins`` (if any),
    with the gRPC port's bounds on a request's size and on the time to receive it."""
    application: ASGIApp = GrpcRefused(
        ExplainedRefusals(
            ReceiveTimeout(
                UserServiceASGIApplication(
                    ConnectService(handlers),  # the generated Protocol, satisfied by name
                    read_max_bytes=grpc.max_request_bytes,
                    codecs=tolerant_codecs(),
                ),
                grpc.receive_timeout_seconds,
            )
        )
    )
    if not settings.cors_origins:
        return application
    return CORSMiddleware(
        application,
        allow_origins=settings.cors_origins,
        allow_methods=("GET", "POST"),
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_RESPONSE_HEADERS,
        max_age=settings.cors_max_age_seconds,
    )


class GrpcRefused:
    """Plain gRPC is refused with 415: it needs HTTP/2 trailers, which uvicorn does not send.

    Connect would fail on such a request as on a bug (a traceback, UNKNOWN); it
    is a client at the wrong port. gRPC-Web is served.
    """

    def __init__(self, application: ASGIApp) -> None:
        self._application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_plain_grpc(scope):
            refusal = PlainTextResponse("gRPC is served on the gRPC port", status_code=415)
            await refusal(scope, receive, send)
            return
        await self._application(scope, receive, send)


def _is_plain_grpc(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind = bytes(value).lower()
            return kind.startswith(b"application/grpc") and not kind.startswith(
                b"application/grpc-web"
            )
    return False


def bind_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A listening TCP socket on ``host:port``; the error names the address and the setting."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted connections: a response's last chunk is written on
        # its own, and Nagle would hold it for the client's delayed ACK (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((bare, port))
        sock.listen(1024)
    except OSError as err:
        sock.close()
        raise OSError(
            err.errno, f"cannot listen on {host}:{port} (APP_HTTP__PORT, APP_HTTP__HOST): {err}"
        ) from err
    return sock


def _tls_options(tls: TlsSettings) -> dict[str, object]:
    """uvicorn's TLS options: the gRPC port's certificate, key and client CA."""
    if not tls.enabled:
        return {}
    return {
        "ssl_certfile": str(tls.cert_file),
        "ssl_keyfile": str(tls.key_file),
        "ssl_ca_certs": None if tls.client_ca_file is None else str(tls.client_ca_file),
        "ssl_cert_reqs": _client_certificates(tls),
    }


def _client_certificates(tls: TlsSettings) -> ssl.VerifyMode:
    """As the gRPC port: required, else asked for (and verified) when a client CA is set."""
    if tls.require_client_cert:
        return ssl.CERT_REQUIRED
    return ssl.CERT_NONE if tls.client_ca_file is None else ssl.CERT_OPTIONAL


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process's own stop the service, and drain it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """uvicorn serving ``application`` on a bound socket, started and stopped by the lifecycle."""

    def __init__(self, application: ASGIApp, sock: socket.socket, tls: TlsSettings) -> None:
        config = uvicorn.Config(
            application,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            server_header=False,
            # Clients' addresses come from the peer, and from x-forwarded-for only
            # behind grpc.trusted_proxies, as on the gRPC port (app/grpc/metadata.py).
            proxy_headers=False,
            **_tls_options(tls),  # type: ignore[arg-type]
        )
        self._server = _EmbeddedServer(config)
        self._socket = sock
        self._serving: asyncio.Task[None] | None = None

    @property
    def host(self) -> str:
        """The address the socket is bound to."""
        return str(self._socket.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        """Serve in a task of this loop; return once uvicorn accepts connections."""
        self._serving = asyncio.create_task(self._server.serve([self._socket]), name="http")
        async with asyncio.timeout(STARTED_WITHIN_SECONDS):
            while not self._server.started:
                if self._serving.done():
                    self._serving.result()  # raises what stopped it
                    raise RuntimeError("the HTTP server stopped while starting")
                await asyncio.sleep(0.01)

    async def stop(self, grace: float) -> None:
        """Stop accepting; let calls in flight finish within ``grace`` seconds; close."""
        self._server.config.timeout_graceful_shutdown = grace  # type: ignore[assignment]
        self._server.should_exit = True
        if self._serving is not None:
            await self._serving
        self._socket.close()
