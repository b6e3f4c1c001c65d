"""``python -m app courier`` (``make courier``): the mail courier alone, until SIGTERM or SIGINT.

For deployments that keep the courier out of the gRPC service
(``APP_MAIL__COURIER_ENABLED=false`` there); several may run at once.
"""

from __future__ import annotations

import argparse

from app.bootstrap.mail import build_courier_process
from app.config import Settings
from app.entrypoints.event_serving import serving
from app.entrypoints.listeners import metrics_listeners
from app.entrypoints.runner import run_process


def describe(settings: Settings) -> dict[str, str]:
    server = settings.mail.server()
    return {"smtp": "(unset)" if server is None else f"{server.security}://{server.address}"}


def run(arguments: argparse.Namespace) -> int:
    return run_process(
        "user-service-courier",
        serving(build_courier_process, "courier process", describe),
        listeners=metrics_listeners,
    )
