"""``python -m app health``: exit 0 when the local service reports SERVING.

The container's health check (Dockerfile ``HEALTHCHECK``) and the Kubernetes
probes of the TLS manifests (the kubelet's own gRPC probes speak plaintext
only): one call to ``grpc.health.v1.Health/Check`` on
``127.0.0.1:<APP_GRPC__PORT>``, bounded by ``--timeout``. With TLS settings it
speaks TLS, trusting ``--ca-file`` and expecting the name the server's
certificate carries; with mutual TLS it presents ``--client-cert`` and
``--client-key``. Exit 1 when the service is NOT_SERVING, does not answer, or
answers too late; 2 on a bad setting.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc

from app.config import ConfigError, TlsSettings, load_settings


def _read(path: str | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()


def _server_name(cert_file: Path) -> str | None:
    """The first DNS name of the server's certificate: what the probe checks it against."""
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    dns_names = names.value.get_values_for_type(x509.DNSName)
    return dns_names[0] if dns_names else None


def channel(target: str, tls: TlsSettings, arguments: argparse.Namespace) -> grpc.Channel:
    """A plaintext channel, or a TLS one to a server with ``tls`` settings."""
    if tls.cert_file is None:
        return grpc.insecure_channel(target)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(arguments.ca_file),
        private_key=_read(arguments.client_key),
        certificate_chain=_read(arguments.client_cert),
    )
    name = _server_name(tls.cert_file)
    options = [] if name is None else [("grpc.ssl_target_name_override", name)]
    return grpc.secure_channel(target, credentials, options=options)


def check(channel: grpc.Channel, service: str, timeout: float) -> str:
    """The status name the health service reports, or the gRPC code of the failure."""
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as err:
            return str(err.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def run(arguments: argparse.Namespace) -> int:
    try:
        grpc_settings = load_settings().grpc
    except ConfigError as err:
        print(f"health-probe: {err}", file=sys.stderr)
        return 2
    target = f"127.0.0.1:{grpc_settings.port}"
    status = check(
        channel(target, grpc_settings.tls, arguments), arguments.service, arguments.timeout
    )
    print(f"health-probe: {target} {status}")
    return 0 if status == "SERVING" else 1
