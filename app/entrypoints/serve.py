"""``python -m app serve`` (``make run``): settings → bootstrap → serve until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio

from prometheus_client import CollectorRegistry

from app.bootstrap import build_application
from app.config import Settings, TlsSettings, check_transport
from app.config.certificates import Validity, now
from app.entrypoints.listeners import server_listeners
from app.entrypoints.memory import reclaiming_memory
from app.entrypoints.runner import run_process
from app.entrypoints.supervisor import serve_with_workers
from app.observability.setup.certificate_metrics import CertificateExpiryCollector


def watch_certificate(tls: TlsSettings, registry: CollectorRegistry | None) -> None:
    """Warn when the server's certificate ends soon; expose its end as a metric."""
    if tls.cert_file is None:
        return
    validity = Validity.of(tls.cert_file)
    validity.warn_if_ending(now(), tls.expiry_warning_days)
    if registry is not None:
        registry.register(CertificateExpiryCollector(validity))


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set, then shut down gracefully."""
    application = await build_application(settings)
    watch_certificate(settings.grpc.tls, application.telemetry.registry)
    async with reclaiming_memory():
        await application.serve_until(stop)


def run(arguments: argparse.Namespace) -> int:
    return run_process(
        "user-service",
        serve_with_workers(serve),
        check=lambda settings: check_transport(settings.grpc),
        listeners=server_listeners,
    )
