"""The HTTP port: the servicer's methods in the call layers, served over Connect."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack

from app.config import ConfigError, Settings, is_loopback
from app.grpc.edge import MethodRegistry
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.grpc.layers import EdgeLayer
from app.grpc.service_contract import SERVICE_NAME
from app.grpc.servicer import UserServiceServicer
from app.http.server import HttpServer, bind_socket, connect_application


def build_http_server(
    settings: Settings,
    servicer: UserServiceServicer,
    layers: Sequence[EdgeLayer],
    closing: AsyncExitStack,
) -> HttpServer:
    """The Connect port over ``servicer``, each method wrapped once in ``layers``; bound now.

    The host is ``http.host``, else the gRPC host; TLS is the gRPC port's, with
    the same certificate; several workers share the port as they share gRPC's.
    """
    methods = MethodRegistry()
    pb_grpc.add_UserServiceServicer_to_server(servicer, methods)  # type: ignore[arg-type]
    application = connect_application(
        methods.wrapped(SERVICE_NAME, layers), settings.http, settings.grpc
    )
    host = http_host(settings)
    sock = bind_socket(host, settings.http.port, reuse_port=settings.grpc.reuse_port)
    closing.callback(sock.close)
    return HttpServer(application, sock, settings.grpc.tls)


def http_host(settings: Settings) -> str:
    """Where the HTTP port listens; plaintext beyond loopback only as the gRPC port allows it."""
    host = settings.http.host or settings.grpc.host
    grpc = settings.grpc
    if not grpc.tls.enabled and not is_loopback(host) and not grpc.plaintext_allowed:
        raise ConfigError(
            "invalid setting http.host (APP_HTTP__HOST):"
            f" plaintext HTTP on {host}, which is not loopback: configure TLS"
            " (APP_GRPC__TLS__CERT_FILE, APP_GRPC__TLS__KEY_FILE) or set"
            " APP_GRPC__PLAINTEXT_ALLOWED=true (e.g. behind a mesh that encrypts)"
        )
    return host
