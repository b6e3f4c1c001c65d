"""The worker and relay processes: one events loop each, run until a signal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog

from app.config import Settings
from app.entrypoints.runner import Serve
from app.lifecycle import EventsProcess

logger = structlog.get_logger(__name__)

Builder = Callable[[Settings], Awaitable[EventsProcess]]
Describe = Callable[[Settings], Mapping[str, str]]


def serving(
    build: Builder, name: str, describe: Describe, notes: Mapping[str, str] | None = None
) -> Serve:
    """A ``Serve`` for :func:`app.entrypoints.runner.run_process` that runs ``build``'s process.

    Its start and stop lines name the process and what ``describe`` tells
    (the stream, the group, the consumer), so a log shows what it worked on;
    ``notes``, for the reader starting it, go on the start line only.
    """

    async def serve(settings: Settings, stop: asyncio.Event) -> None:
        process = await build(settings)
        details = describe(settings)
        logger.info(f"{name} started", **details, **(notes or {}))
        running = asyncio.create_task(process.run(), name="events-process")
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        process.stop()
        stopping.cancel()
        await running
        logger.info(f"{name} stopped", **details)

    return serve
