"""OutboxRelay: moves outbox events to the broker, batch by batch, until stopped.

It lives with the use cases because it is orchestration over two ports (the
outbox, the publisher) with no I/O of its own; the same loop runs inside the
service (``events.relay_enabled``) and as its own process (``make relay``).
Several relays may run at once: the outbox hands each batch to one of them.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from app.domain.errors import StoreUnavailable
from app.usecases.ports import EventPublisher, OutboxBatches

logger = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 5.0


class OutboxRelay:
    """Publishes outbox events in order, marking each published only after the broker has it."""

    def __init__(
        self,
        outbox: OutboxBatches,
        publisher: EventPublisher,
        *,
        batch_size: int,
        poll_interval_seconds: float,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval_seconds
        self._stopping = asyncio.Event()

    async def relay_once(self) -> int:
        """Publish one batch; the number of events published (0 when none wait)."""
        return await self._outbox.publish_next(self._batch_size, self._publisher.publish)

    async def run(self) -> None:
        """Relay until :meth:`stop`: full batches back to back, then poll.

        A store that does not answer is logged and retried with a growing
        pause; the events wait safely in the outbox meanwhile.
        """
        self._stopping.clear()
        failures = 0
        logger.info("outbox relay started", batch_size=self._batch_size)
        while not self._stopping.is_set():
            try:
                published = await self.relay_once()
                failures = 0
            except StoreUnavailable as err:
                failures += 1
                pause = min(self._poll_interval * 2**failures, MAX_BACKOFF_SECONDS)
                logger.warning("outbox relay failed", error=repr(err.__cause__), retry_in=pause)
                await self._pause(pause)
                continue
            if published < self._batch_size:
                await self._pause(self._poll_interval)
        logger.info("outbox relay stopped")

    def stop(self) -> None:
        """Ask :meth:`run` to return after the batch in hand (which completes or rolls back)."""
        self._stopping.set()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
