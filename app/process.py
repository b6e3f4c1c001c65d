"""What every process entry shares: settings, logging, signals, exit status.

``make run`` (app.main), ``make worker`` and ``make relay`` each hand
:func:`run_process` a coroutine function that serves until its stop event
is set; SIGTERM and SIGINT set it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

import structlog

from app.config import ConfigError, Settings, load_settings
from app.memory import return_large_buffers_to_the_os
from app.observability.logging import configure_logging

logger = structlog.get_logger("app.process")

Serve = Callable[[Settings, asyncio.Event], Awaitable[None]]


async def _serve_until_signalled(settings: Settings, serve: Serve) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop)


def run_process(name: str, serve: Serve) -> int:
    """Load settings, configure logging and run ``serve``; the exit status.

    A bad setting exits 2 with one line on stderr naming it; a port that
    cannot be bound exits 1.
    """
    try:
        settings = load_settings()
    except ConfigError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.logging.level, settings.logging.format)
    return_large_buffers_to_the_os()
    try:
        asyncio.run(_serve_until_signalled(settings, serve))
    except OSError as err:
        logger.error("cannot start", process=name, error=str(err))
        return 1
    return 0
