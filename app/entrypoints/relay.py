"""``python -m app relay`` (``make relay``): the outbox relay alone, until SIGTERM or SIGINT.

For deployments that keep the relay out of the gRPC service
(``APP_EVENTS__RELAY_ENABLED=false`` there); several may run at once.
"""

from __future__ import annotations

import argparse

from app.bootstrap import build_relay_process, event_streams
from app.config import Settings
from app.entrypoints.event_serving import serving
from app.entrypoints.listeners import metrics_listeners
from app.entrypoints.runner import run_process

# Why a relay beside another (`make run`'s own, or more replicas) is fine: the
# one fact is in app/adapters/postgres/outbox.py, said here where it is asked.
COORDINATION = (
    "relays claim outbox rows with FOR UPDATE SKIP LOCKED, so other relays"
    " (make run's own too) never take the same row: running several is fine"
)


def describe(settings: Settings) -> dict[str, str]:
    return {"stream": event_streams(settings).describe()}


def run(arguments: argparse.Namespace) -> int:
    return run_process(
        "user-service-relay",
        serving(build_relay_process, "relay process", describe, {"other_relays": COORDINATION}),
        listeners=metrics_listeners,
    )
