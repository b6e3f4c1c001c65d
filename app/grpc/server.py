"""Assembling the gRPC server: services, reflection, interceptors and limits."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from app.config import GrpcSettings
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.grpc.health import SERVICE_NAME, HealthReporter
from app.grpc.servicer import UserServiceServicer


def build_server(
    settings: GrpcSettings,
    servicer: UserServiceServicer,
    health_reporter: HealthReporter,
    interceptors: Sequence[grpc.aio.ServerInterceptor],
) -> tuple[grpc.aio.Server, int]:
    """A server with every service added and bound; returns it and its port.

    The first interceptor is the outermost. Requests larger than
    ``max_request_bytes`` are refused with RESOURCE_EXHAUSTED by gRPC itself.
    """
    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=[
            ("grpc.max_receive_message_length", settings.max_request_bytes),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    pb_grpc.add_UserServiceServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_reporter.servicer, server)
    if settings.reflection:
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    if port == 0:
        raise OSError(f"cannot listen on {settings.host}:{settings.port}")
    return server, port
