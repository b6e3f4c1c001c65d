"""StoppableLoop: run a step until stopped, backing off after failures; the one such loop.

The outbox relay, the stream consumer and the health reporter each run a step
again and again until told to stop, waiting between steps; the relay and the
consumer also wait longer after each failure in a row (exponential back-off,
capped at :data:`MAX_BACKOFF_SECONDS`). A stop ends any wait at once.

This module sits at the top of ``app`` beside ``lifecycle.py``: use cases,
adapters and the gRPC layer all use it and may not import one another, and it
waits on the clock, which the I/O-free domain must not. It imports nothing of
the application. Retry libraries (tenacity, backoff) retry one call until it
succeeds and sleep with ``asyncio.sleep``: they neither run a step for ever,
resetting after each success, nor end a wait when a stop is asked without one
more attempt, so the few lines here are simpler than adapting them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from structlog.typing import FilteringBoundLogger

#: The longest wait after failures in a row, whatever the first wait.
MAX_BACKOFF_SECONDS = 5.0

#: One round of work; returns how long to wait before the next (0: at once).
Step = Callable[[], Awaitable[float]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Which failures a loop outlives, how long it waits after them, how it tells.

    After the n-th failure in a row the loop waits ``base_seconds * 2**n``
    seconds (at most ``max_seconds``), logging ``failure_event`` as a warning
    on ``logger`` with the failure's cause (the library error an adapter
    translated) and the wait; a step that succeeds starts the count again.
    """

    retry_on: type[Exception] | tuple[type[Exception], ...]
    base_seconds: float
    logger: FilteringBoundLogger
    failure_event: str
    max_seconds: float = MAX_BACKOFF_SECONDS

    def seconds_after(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row."""
        return min(self.base_seconds * 2.0**failures, self.max_seconds)


class StoppableLoop:
    """Runs a :data:`Step` until :meth:`stop`; without a :class:`Backoff` a failure ends it."""

    def __init__(self, backoff: Backoff | None = None) -> None:
        self._backoff = backoff
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called (until :meth:`rearm`)."""
        return self._stopping.is_set()

    def stop(self) -> None:
        """Ask :meth:`run` to return after the step in hand; a wait ends at once."""
        self._stopping.set()

    def rearm(self) -> None:
        """Forget an earlier stop, so that :meth:`run` runs again."""
        self._stopping.clear()

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less when stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def run(self, step: Step) -> None:
        """Run ``step`` until stopped, waiting what it asks, or the back-off when it fails."""
        backoff, failures = self._backoff, 0
        retry_on = () if backoff is None else backoff.retry_on
        while not self.stopping:
            try:
                wait = await step()
                failures = 0
            except retry_on as err:
                assert backoff is not None  # retry_on is empty without one
                failures += 1
                wait = backoff.seconds_after(failures)
                backoff.logger.warning(
                    backoff.failure_event, error=repr(err.__cause__), retry_in=wait
                )
            if wait > 0:
                await self.pause(wait)
