"""The edge's telemetry layers, as the application's telemetry calls for them.

The server span lives in :mod:`app.grpc.server_tracing`, the gRPC server
metrics in :mod:`app.grpc.server_metrics`.
"""

from __future__ import annotations

from app.grpc.layers import EdgeLayer
from app.grpc.server_metrics import GrpcServerMetrics, ServerMetricsLayer
from app.grpc.server_tracing import ServerTracingLayer
from app.grpc.service_contract import METHOD_NAMES, SERVICE_NAME
from app.observability.telemetry import Telemetry


def telemetry_layers(telemetry: Telemetry) -> list[EdgeLayer]:
    """The layers ``telemetry`` calls for, outermost first: tracing, then metrics.

    Tracing outermost puts the trace id on the log lines of the inner
    layers; metrics outside logging and errors see the final status code.
    """
    layers: list[EdgeLayer] = []
    if telemetry.tracing is not None:
        layers.append(ServerTracingLayer())
    if telemetry.registry is not None:
        metrics = GrpcServerMetrics(telemetry.registry)
        metrics.initialize("unary", SERVICE_NAME, METHOD_NAMES)
        layers.append(ServerMetricsLayer(metrics))
    return layers
