"""OutboxRelay: moves outbox events to the broker, batch by batch, until stopped.

It lives with the use cases because it is orchestration over two ports (the
outbox, the publisher) with no I/O of its own; the same loop runs inside the
service (``events.relay_enabled``) and as its own process (``make relay``).
Several relays may run at once: the outbox hands each batch to one of them.
Every relay also prunes published events past their retention, a bounded
batch at a time, so the outbox does not grow for ever, and, given
:class:`Sweeping`, publishes events a change left waiting (on a Redis
Cluster, the session events whose own forward never ran).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from app.domain.errors import StoreFault, StoreUnavailable
from app.domain.event_ports import EventPublisher, OutboxBatches, WaitingEvents
from app.stoppable_loop import Backoff, StoppableLoop

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Pruning:
    """Delete events published more than ``retention_seconds`` ago, ``batch_size``
    at a time, every ``interval_seconds`` (at once again after a full batch)."""

    retention_seconds: float
    interval_seconds: float
    batch_size: int


@dataclass(frozen=True, slots=True)
class Sweeping:
    """Publish the events left ``waiting`` every ``interval_seconds``."""

    waiting: WaitingEvents
    interval_seconds: float


class OutboxRelay:
    """Publishes outbox events in order, marking each published only after the broker has it."""

    def __init__(
        self,
        outbox: OutboxBatches,
        publisher: EventPublisher,
        *,
        batch_size: int,
        poll_interval_seconds: float,
        pruning: Pruning | None = None,
        sweeping: Sweeping | None = None,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval_seconds
        self._pruning = pruning
        self._next_prune = 0.0
        self._sweeping = sweeping
        self._next_sweep = 0.0
        self._loop = StoppableLoop(
            Backoff(
                retry_on=(StoreUnavailable, StoreFault),
                base_seconds=poll_interval_seconds,
                logger=logger,
                failure_event="outbox relay failed",
            )
        )

    async def relay_once(self) -> int:
        """Publish one batch; the number of events published (0 when none wait)."""
        return await self._outbox.publish_next(self._batch_size, self._publisher.publish)

    async def prune_if_due(self) -> int:
        """Prune one batch if the interval has passed; the number of events deleted."""
        pruning, now = self._pruning, asyncio.get_running_loop().time()
        if pruning is None or now < self._next_prune:
            return 0
        deleted = await self._outbox.prune_published(pruning.retention_seconds, pruning.batch_size)
        full = deleted >= pruning.batch_size
        self._next_prune = now if full else now + pruning.interval_seconds
        if deleted:
            logger.info("outbox pruned", deleted=deleted)
        return deleted

    async def sweep_if_due(self) -> int:
        """Publish the waiting events if the interval has passed; how many.

        The next sweep is due an interval later even when this one fails, so
        an unreachable node delays the outbox by the back-off only.
        """
        sweeping, now = self._sweeping, asyncio.get_running_loop().time()
        if sweeping is None or now < self._next_sweep:
            return 0
        self._next_sweep = now + sweeping.interval_seconds
        swept = await sweeping.waiting.sweep()
        if swept:
            logger.info("waiting events published", swept=swept)
        return swept

    async def run(self) -> None:
        """Relay until :meth:`stop`: full batches back to back, then poll.

        A store that does not answer is logged and retried with a growing
        pause; the events wait safely in the outbox meanwhile.
        """
        self._loop.rearm()
        logger.info("outbox relay started", batch_size=self._batch_size)
        await self._loop.run(self._relay_round)
        logger.info("outbox relay stopped")

    def stop(self) -> None:
        """Ask :meth:`run` to return after the batch in hand (which completes or rolls back)."""
        self._loop.stop()

    async def _relay_round(self) -> float:
        """One batch, a prune and a sweep if due; then at once after a full batch, else a poll
        later."""
        published = await self.relay_once()
        await self.prune_if_due()
        await self.sweep_if_due()
        return 0.0 if published >= self._batch_size else self._poll_interval
