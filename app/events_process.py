"""What the worker and relay processes share: settings, logging, signals, shutdown."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

import structlog

from app.bootstrap import EventsProcess
from app.config import ConfigError, Settings, load_settings
from app.observability.logging import configure_logging

logger = structlog.get_logger("app.events")

Builder = Callable[[Settings], Awaitable[EventsProcess]]


async def _serve(settings: Settings, build: Builder) -> None:
    process = await build(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, process.stop)
    await process.run()


def run_events_process(name: str, build: Builder) -> int:
    """Load settings, build the process with ``build`` and run it; the exit status."""
    try:
        settings = load_settings()
    except ConfigError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.logging.level, settings.logging.format)
    try:
        asyncio.run(_serve(settings, build))
    except OSError as err:
        logger.error("cannot start", process=name, error=str(err))
        return 1
    return 0
