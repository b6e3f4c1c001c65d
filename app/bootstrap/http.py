"""The HTTP port: the servicer's methods in the call layers, served over Connect."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack

from app.config import Settings
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
    host = settings.http.host or settings.grpc.host
    sock = bind_socket(host, settings.http.port, reuse_port=settings.grpc.reuse_port)
    closing.callback(sock.close)
    return HttpServer(application, sock, settings.grpc.tls)
