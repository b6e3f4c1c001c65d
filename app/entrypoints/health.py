"""``python -m app health``: exit 0 when the local service reports SERVING.

The container's health check (Dockerfile ``HEALTHCHECK``): one call to
``grpc.health.v1.Health/Check`` on ``127.0.0.1:<APP_GRPC__PORT>``, bounded by
``--timeout``. Kubernetes uses its native gRPC probes instead. Exit 1 when
the service is NOT_SERVING, does not answer, or answers too late; 2 on a bad
setting.
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from app.config import ConfigError, load_settings


def check(target: str, service: str, timeout: float) -> str:
    """The status name the health service reports, or the gRPC code of the failure."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as err:
            return str(err.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def run(arguments: argparse.Namespace) -> int:
    try:
        port = load_settings().grpc.port
    except ConfigError as err:
        print(f"health-probe: {err}", file=sys.stderr)
        return 2
    status = check(f"127.0.0.1:{port}", arguments.service, arguments.timeout)
    print(f"health-probe: 127.0.0.1:{port} {status}")
    return 0 if status == "SERVING" else 1
