"""The transactional outbox: events stored with the state they report, relayed later.

A row is written in the same transaction as the change it reports (see
``UserPgRepository.add``), so a crash keeps both or neither. The relay claims
rows with ``FOR UPDATE SKIP LOCKED`` (several relays never take the same
row), publishes them, and marks them published in the same transaction: a
crash after publishing and before the commit publishes them again, which is
the "at least once" of the delivery guarantee.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from app.adapters.postgres.errors import postgres_errors
from app.domain.events import Event, EventType
from app.observability.tracing import traced
from app.usecases.ports import PublishBatch

_INSERT = """
INSERT INTO event_outbox (event_id, event_type, occurred_at, user_id, data, traceparent)
VALUES ($1, $2, $3, $4, $5::jsonb, $6)
"""

# Oldest first, skipping rows another relay holds, and skipping any row whose
# user has an older unpublished row: that row is in someone's batch (or this
# one's), and publishing this one first would reorder the user's events.
_CLAIM = """
SELECT id, event_id, event_type, occurred_at, user_id, data, traceparent
FROM event_outbox AS candidate
WHERE published_at IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM event_outbox AS earlier
      WHERE earlier.published_at IS NULL
        AND earlier.user_id = candidate.user_id
        AND earlier.id < candidate.id
  )
ORDER BY id
LIMIT $1
FOR UPDATE OF candidate SKIP LOCKED
"""

_MARK_PUBLISHED = "UPDATE event_outbox SET published_at = now() WHERE id = ANY($1::bigint[])"


def _arguments(event: Event) -> tuple[Any, ...]:
    return (
        event.id,
        event.type.value,
        event.occurred_at,
        event.user_id,
        json.dumps(dict(event.data)),
        event.traceparent,
    )


async def insert_event(connection: asyncpg.Connection, event: Event) -> None:
    """Write ``event`` on ``connection``, inside whatever transaction it is in."""
    await connection.execute(_INSERT, *_arguments(event))


def _event(row: Any) -> Event:
    return Event(
        id=row["event_id"],
        type=EventType(row["event_type"]),
        occurred_at=row["occurred_at"],
        user_id=row["user_id"],
        data=json.loads(row["data"]),
        traceparent=row["traceparent"],
    )


class OutboxPgRepository:
    """Satisfies ``EventOutbox`` and ``OutboxBatches`` on the ``event_outbox`` table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @traced
    async def add(self, event: Event) -> None:
        with postgres_errors():
            await self._pool.execute(_INSERT, *_arguments(event))

    @traced
    async def publish_next(self, limit: int, publish: PublishBatch) -> int:
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                rows: Sequence[Any] = await connection.fetch(_CLAIM, limit)
                if not rows:
                    return 0
                await publish([_event(row) for row in rows])
                await connection.execute(_MARK_PUBLISHED, [row["id"] for row in rows])
        return len(rows)

    async def unpublished_count(self) -> int:
        """How many events wait for the relay (for metrics and tests)."""
        with postgres_errors():
            count: int = await self._pool.fetchval(
                "SELECT count(*) FROM event_outbox WHERE published_at IS NULL"
            )
        return count
