"""The edge's telemetry layers, as the application's telemetry calls for them.

The server span lives in :mod:`app.grpc.server_tracing`, the gRPC server
metrics in :mod:`app.grpc.server_metrics`.
"""

from __future__ import annotations

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.health import SERVICE_NAME
from app.grpc.interceptors import EdgeLayer
from app.grpc.server_metrics import GrpcServerMetrics, ServerMetricsInterceptor
from app.grpc.server_tracing import ServerTracingInterceptor
from app.observability.telemetry import Telemetry


def telemetry_interceptors(telemetry: Telemetry) -> list[EdgeLayer]:
    """The layers ``telemetry`` calls for, outermost first: tracing, then metrics.

    Tracing outermost puts the trace id on the log lines of the inner
    interceptors; metrics outside logging and errors see the final status code.
    """
    interceptors: list[EdgeLayer] = []
    if telemetry.tracing is not None:
        interceptors.append(ServerTracingInterceptor())
    if telemetry.registry is not None:
        metrics = GrpcServerMetrics(telemetry.registry)
        service = pb.DESCRIPTOR.services_by_name["UserService"]
        metrics.initialize("unary", SERVICE_NAME, [method.name for method in service.methods])
        interceptors.append(ServerMetricsInterceptor(metrics))
    return interceptors
