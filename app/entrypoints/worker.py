"""``python -m app worker`` (``make worker``): the audit-log projector, until SIGTERM or SIGINT.

It consumes the user events stream in the ``events.group`` consumer group and
writes each event into ``user_audit_log`` once. Run several for throughput;
give each a stable ``APP_EVENTS__CONSUMER_NAME`` so a restarted worker re-reads
what it had received and not acknowledged.
"""

from __future__ import annotations

import argparse

from app.bootstrap import build_audit_worker, consumer_options, event_streams
from app.config import Settings
from app.entrypoints.event_serving import serving
from app.entrypoints.listeners import metrics_listeners
from app.entrypoints.runner import run_process


def describe(settings: Settings) -> dict[str, str]:
    return {
        "stream": event_streams(settings).describe(),
        "group": settings.events.group,
        "consumer": consumer_options(settings).consumer,
    }


def run(arguments: argparse.Namespace) -> int:
    return run_process(
        "user-service-worker",
        serving(build_audit_worker, "audit-log worker", describe),
        listeners=metrics_listeners,
    )
