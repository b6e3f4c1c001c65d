"""``python -m app serve`` (``make run``): settings → bootstrap → serve until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio

from app.bootstrap import build_application
from app.config import Settings, check_transport
from app.entrypoints.runner import run_process
from app.entrypoints.supervisor import serve_with_workers


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set, then shut down gracefully."""
    application = await build_application(settings)
    await application.serve_until(stop)


def run(arguments: argparse.Namespace) -> int:
    return run_process(
        "user-service",
        serve_with_workers(serve),
        check=lambda settings: check_transport(settings.grpc),
    )
