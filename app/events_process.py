"""The worker and relay processes: one events loop each, run until a signal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from app.bootstrap import EventsProcess
from app.config import Settings
from app.process import Serve

Builder = Callable[[Settings], Awaitable[EventsProcess]]


def serving(build: Builder) -> Serve:
    """A ``Serve`` for :func:`app.process.run_process` that runs ``build``'s process."""

    async def serve(settings: Settings, stop: asyncio.Event) -> None:
        process = await build(settings)
        running = asyncio.create_task(process.run(), name="events-process")
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        process.stop()
        stopping.cancel()
        await running

    return serve
