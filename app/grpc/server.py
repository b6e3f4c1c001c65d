"""Assembling the gRPC server: services, reflection, the edge's layers, limits and transport."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from app.config import GrpcSettings, TlsSettings, is_loopback
from app.grpc.edge import MethodRegistry
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.grpc.health import HealthReporter
from app.grpc.layers import EdgeLayer
from app.grpc.service_contract import SERVICE_NAME
from app.grpc.servicer import UserServiceServicer

logger = structlog.get_logger(__name__)


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def server_options(settings: GrpcSettings) -> list[tuple[str, int]]:
    """gRPC core channel arguments of the server: message size, keepalive, connection limits."""
    return [
        ("grpc.max_receive_message_length", settings.max_request_bytes),
        ("grpc.so_reuseport", int(settings.reuse_port)),
        # Ping each connection after this long without activity; close it when
        # the ping is not answered in time (dead peers, half-open sockets).
        ("grpc.keepalive_time_ms", _milliseconds(settings.keepalive_time_seconds)),
        ("grpc.keepalive_timeout_ms", _milliseconds(settings.keepalive_timeout_seconds)),
        ("grpc.keepalive_permit_without_calls", int(settings.keepalive_permit_without_calls)),
        # Clients may ping this often; more often counts a strike, and past
        # max_ping_strikes the connection is closed (GOAWAY too_many_pings).
        (
            "grpc.http2.min_ping_interval_without_data_ms",
            _milliseconds(settings.min_ping_interval_seconds),
        ),
        ("grpc.http2.max_ping_strikes", settings.max_ping_strikes),
        ("grpc.max_connection_idle_ms", _milliseconds(settings.max_connection_idle_seconds)),
        ("grpc.max_connection_age_ms", _milliseconds(settings.max_connection_age_seconds)),
        (
            "grpc.max_connection_age_grace_ms",
            _milliseconds(settings.max_connection_age_grace_seconds),
        ),
        ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        # gRPC core's connection quota: a connection past it is closed on accept.
        ("grpc.max_allowed_incoming_connections", settings.max_connections),
        # Count open streams, as HTTP/2 and the client do, not streams whose
        # memory gRPC has not yet freed: grpc.aio frees them late under load,
        # and the default counting refused streams (REFUSED_STREAM, seen by
        # clients as UNAVAILABLE) on connections with far fewer calls open.
        ("grpc.http.overload_protection", 0),
        ("grpc.server_handshake_timeout_ms", _milliseconds(settings.handshake_timeout_seconds)),
    ]


def listen_address(host: str, port: int) -> str:
    """``host:port`` as gRPC binds it: an IPv6 address in brackets (``[::1]:5000``)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def warn_about_plaintext(settings: GrpcSettings) -> None:
    """Log a warning when calls will travel in clear beyond this machine.

    Settings validation already refused this unless ``plaintext_allowed``.
    """
    if not settings.tls.enabled and not is_loopback(settings.host):
        logger.warning(
            "plaintext gRPC on a non-loopback address",
            host=settings.host,
            setting="APP_GRPC__PLAINTEXT_ALLOWED",
        )


def warn_about_missing_proxies(settings: GrpcSettings) -> None:
    """Log a warning when the settings suggest a proxy in front but none is trusted.

    Plaintext beyond loopback is allowed for a mesh or a proxy that ends TLS;
    unless it is a trusted proxy, every call seems to come from it.
    """
    if settings.plaintext_allowed and not settings.trusted_proxies:
        logger.warning(
            "plaintext is allowed for a proxy or mesh in front, but no trusted proxies are set:"
            " every client behind it has the proxy's address and shares its throttle",
            setting="APP_GRPC__TRUSTED_PROXIES",
        )


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials:
    """TLS from the configured PEM files; with a client CA, client certificates are required."""
    assert tls.cert_file is not None and tls.key_file is not None
    return grpc.ssl_server_credentials(
        [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
        root_certificates=None if tls.client_ca_file is None else tls.client_ca_file.read_bytes(),
        require_client_auth=tls.require_client_cert,
    )


def build_server(
    settings: GrpcSettings,
    servicer: UserServiceServicer,
    health_reporter: HealthReporter,
    layers: Sequence[EdgeLayer],
) -> tuple[grpc.aio.Server, int]:
    """A server with every service added and bound; returns it and its port.

    Each method's handler is wrapped in ``layers`` once, here (the first
    is the outermost): no grpc.aio interceptor runs per call. Requests larger than
    ``max_request_bytes`` are refused with RESOURCE_EXHAUSTED by gRPC itself.
    There is deliberately no global cap on concurrent calls (grpc.aio's
    ``maximum_concurrent_rpcs`` counts calls whose request has not arrived, so
    a few stalled streams starve health checks): limits are per method, in a
    layer, and per connection, in the HTTP/2 options.
    """
    server = grpc.aio.server(options=server_options(settings))
    methods = MethodRegistry()
    pb_grpc.add_UserServiceServicer_to_server(servicer, methods)  # type: ignore[arg-type]
    health_pb2_grpc.add_HealthServicer_to_server(health_reporter.servicer, methods)
    if settings.reflection:
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(
                (
                    SERVICE_NAME,
                    health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                    reflection.SERVICE_NAME,
                )
            ),
            methods,
        )
    methods.add_to(server, layers)
    address = listen_address(settings.host, settings.port)
    if settings.tls.enabled:
        port = server.add_secure_port(address, server_credentials(settings.tls))
    else:
        warn_about_plaintext(settings)
        warn_about_missing_proxies(settings)
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {settings.host}:{settings.port}")
    return server, port
