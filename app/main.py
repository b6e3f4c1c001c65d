"""Process entry: settings → bootstrap → serve until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys

import structlog

from app.bootstrap import build_application
from app.config import ConfigError, Settings, load_settings
from app.observability.logging import configure_logging

logger = structlog.get_logger("app.main")


async def serve(settings: Settings) -> None:
    """Serve until a stop signal, then shut down gracefully."""
    application = await build_application(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await application.start()
    try:
        await stop.wait()
    finally:
        await application.stop()


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as err:
        print(f"user-service: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.logging.level, settings.logging.format)
    try:
        asyncio.run(serve(settings))
    except OSError as err:
        logger.error("cannot start", error=str(err))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
