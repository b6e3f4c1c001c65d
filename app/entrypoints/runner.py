"""What every long-running command shares: settings, logging, signals, exit status.

``python -m app serve``, ``worker`` and ``relay`` each hand :func:`run_process`
a coroutine function that serves until its stop event is set; SIGTERM and
SIGINT set it. Every process runs on uvloop.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

import structlog
import uvloop

from app.config import ConfigError, Settings, load_settings
from app.entrypoints.listeners import Listener, first_taken
from app.entrypoints.memory import return_large_buffers_to_the_os
from app.observability.setup.logging import configure_logging
from app.observability.setup.providers import shutdown_process_telemetry
from app.observability.setup.trace_export import TracingConfigError, check_trace_export

logger = structlog.get_logger(__name__)

Serve = Callable[[Settings, asyncio.Event], Awaitable[None]]
Listeners = Callable[[Settings], list[Listener]]


async def _serve_until_signalled(settings: Settings, serve: Serve) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop)


BAD_SETTING = 2


def settings_with_logging(
    name: str, check: Callable[[Settings], None] | None = None
) -> Settings | None:
    """The settings, with logging configured from them; None (after one line on
    stderr naming the bad setting) when they cannot be read.

    ``check`` may refuse settings this process cannot run with (raising
    :class:`ConfigError`); ``OTEL_*`` variables naming an exporter that is not
    installed are refused here too, before any store is touched.
    """
    try:
        settings = load_settings()
        if check is not None:
            check(settings)
        check_trace_export(settings.tracing)
    except (ConfigError, TracingConfigError) as err:
        print(f"{name}: {err}", file=sys.stderr)
        return None
    configure_logging(settings.logging.level, settings.logging.format)
    return settings


ADDRESS_TAKEN = 1


def run_process(
    name: str,
    serve: Serve,
    check: Callable[[Settings], None] | None = None,
    listeners: Listeners | None = None,
) -> int:
    """Load settings, configure logging and run ``serve``; the exit status.

    ``check`` may refuse settings this process cannot run with. A bad setting
    (or ``OTEL_*`` variable) exits 2 with one line on stderr naming it. Each
    address ``listeners`` names is tried before anything else: one taken
    (then, or when the server binds it later) exits 1 with one line on stderr
    naming the address and its setting.
    """
    settings = settings_with_logging(name, check)
    if settings is None:
        return BAD_SETTING
    addresses = [] if listeners is None else listeners(settings)
    taken = first_taken(addresses)
    if taken is not None:
        print(f"{name}: {taken}", file=sys.stderr)
        return ADDRESS_TAKEN
    return_large_buffers_to_the_os()
    try:
        # uvloop: grpc.aio's completion queue wakes the loop through a socket
        # it watches with add_reader, which libuv serves with less overhead per
        # wake-up than the selector loop; see docs/performance.md.
        uvloop.run(_serve_until_signalled(settings, serve))
    except (TracingConfigError, ConfigError) as err:  # a check that needs the stores
        print(f"{name}: {err}", file=sys.stderr)
        return BAD_SETTING
    except OSError as err:
        taken = first_taken(addresses)
        if taken is not None:
            print(f"{name}: {taken}", file=sys.stderr)
        else:
            logger.error("cannot start", process=name, error=str(err))
        return ADDRESS_TAKEN
    finally:
        shutdown_process_telemetry()
    return 0
