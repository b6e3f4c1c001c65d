"""The edge's telemetry layers, as the application's telemetry calls for them.

They are told only whether to trace and where to count, not handed the
process's telemetry set-up, so the edge depends on nothing but the
OpenTelemetry API and a registry.

The server span lives in :mod:`app.grpc.server_tracing`, the gRPC server
metrics in :mod:`app.grpc.server_metrics`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.grpc.layers import EdgeLayer
from app.grpc.server_metrics import GrpcServerMetrics, ServerMetricsLayer
from app.grpc.server_tracing import ServerTracingLayer
from app.grpc.service_contract import METHOD_NAMES, SERVICE_NAME


def telemetry_layers(
    *, traced: bool, registry: CollectorRegistry | None, metrics_prefix: str = "grpc_server"
) -> list[EdgeLayer]:
    """The server span if ``traced``, the server metrics on ``registry`` if any, in that order.

    ``metrics_prefix`` names the metrics (``grpc_server_handled_total``…).

    Tracing outermost puts the trace id on the log lines of the inner
    layers; metrics outside logging and errors see the final status code.
    """
    layers: list[EdgeLayer] = []
    if traced:
        layers.append(ServerTracingLayer())
    if registry is not None:
        metrics = GrpcServerMetrics(registry, metrics_prefix)
        metrics.initialize("unary", SERVICE_NAME, METHOD_NAMES)
        layers.append(ServerMetricsLayer(metrics))
    return layers
