"""What the event use cases (the relay, the audit log) and the outbox need, as Protocols.

Beside :mod:`app.domain.ports`, for the same reason: use cases state what they
need, adapters satisfy it, the unit tests' fakes declare it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from app.domain.events import Event


class EventOutbox(Protocol):
    """Events waiting, durably, to be published (events that change no other state)."""

    async def add(self, event: Event) -> None: ...


PublishBatch = Callable[[Sequence[Event]], Awaitable[None]]


class OutboxBatches(Protocol):
    """The relay's side of the outbox: take a batch, publish it, mark it published."""

    async def publish_next(self, limit: int, publish: PublishBatch) -> int:
        """Claim up to ``limit`` unpublished events, oldest first, and ``publish`` them.

        The events are marked published only if ``publish`` returns; if it
        raises, they stay unpublished for the next attempt. Claims are
        exclusive across processes, and a user's events are never handed out
        before that user's earlier ones are published (or earlier in the same
        batch): a user's backlog goes out in order, a full batch at a time.
        Returns the count.
        """
        ...

    async def prune_published(self, older_than_seconds: float, limit: int) -> int:
        """Delete up to ``limit`` events published more than ``older_than_seconds`` ago.

        Returns how many were deleted; unpublished events are never deleted.
        """
        ...


class EventPublisher(Protocol):
    """A broker's append side (Redis Streams today; Kafka or NATS could fit)."""

    async def publish(self, events: Sequence[Event]) -> None:
        """Append ``events`` in order; return only once the broker has all of them."""
        ...


class WaitingEvents(Protocol):
    """Events a change left on their way to the broker, whose own forward may never run."""

    async def sweep(self) -> int:
        """Publish every event waiting now (at least once, each user's in order); how many."""
        ...


class AuditLog(Protocol):
    """The audit trail of user events; recording an event twice keeps one row."""

    async def record(self, events: Sequence[Event]) -> None: ...
