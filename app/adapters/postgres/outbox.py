"""The transactional outbox: events stored with the state they report, relayed later.

:func:`insert_event` is the one writer of the table: a row is written in the
same transaction as the change it reports (the users repository passes its
connection), so a crash keeps both or neither. The relay claims
rows with ``FOR UPDATE SKIP LOCKED`` (several relays never take the same
row), publishes them, and marks them published in the same transaction: a
crash after publishing and before the commit publishes them again, which is
the "at least once" of the delivery guarantee.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from app.adapters.postgres.errors import postgres_errors
from app.adapters.postgres.event_rows import event_from_row, event_values
from app.domain.event_ports import PublishBatch
from app.domain.events import Event
from app.observability.trace_context import stamped
from app.observability.tracing import traced

_INSERT = """
INSERT INTO event_outbox (event_id, event_type, occurred_at, user_id, data, traceparent)
VALUES ($1, $2, $3, $4, $5::jsonb, $6)
"""

# Each user's oldest unpublished row (the "head" of their backlog), oldest
# first, skipping rows another relay holds. A row with an older unpublished row
# of its user is never a head: while a relay holds a user's head, no other
# relay can take any of that user's rows.
_CLAIM_HEADS = """
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

# The rest of those users' backlogs, in order: the batch publishes a user's
# backlog at full speed instead of one row per user per batch.
_CLAIM_FOLLOWERS = """
SELECT id, event_id, event_type, occurred_at, user_id, data, traceparent
FROM event_outbox
WHERE published_at IS NULL
  AND user_id = ANY($1::uuid[])
  AND id <> ALL($2::bigint[])
ORDER BY id
LIMIT $3
FOR UPDATE
"""

# Published rows past the retention, oldest first, a bounded batch at a time;
# rows another relay is deleting are skipped.
_PRUNE = """
DELETE FROM event_outbox
WHERE id IN (
    SELECT id FROM event_outbox
    WHERE published_at < now() - make_interval(secs => $1)
    ORDER BY published_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
"""

# Whether a poll has work, each answered from a partial index: asked before
# the work, with the SQL instrumentation suppressed, so that an idle relay's
# polls leave no trace (a trace starts when there is work).
_ANY_UNPUBLISHED = "SELECT EXISTS (SELECT 1 FROM event_outbox WHERE published_at IS NULL)"
_ANY_PRUNABLE = """
SELECT EXISTS (
    SELECT 1 FROM event_outbox WHERE published_at < now() - make_interval(secs => $1)
)
"""

_MARK_PUBLISHED = "UPDATE event_outbox SET published_at = now() WHERE id = ANY($1::bigint[])"


async def insert_event(connection: asyncpg.Connection | asyncpg.Pool, event: Event) -> None:
    """Write ``event`` on ``connection``, inside whatever transaction it is in
    (or on the pool, for an event that changes no other state).

    The event gets the current request's ``traceparent`` here (see ``stamped``).
    """
    await connection.execute(_INSERT, *event_values(stamped(event)))


_tracer = trace.get_tracer("app")


class OutboxPgRepository:
    """Satisfies ``EventOutbox`` and ``OutboxBatches`` on the ``event_outbox`` table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @traced
    async def add(self, event: Event) -> None:
        with postgres_errors():
            await insert_event(self._pool, event)

    async def publish_next(self, limit: int, publish: PublishBatch) -> int:
        """Publish the next batch (in a span of this name); a poll that finds none, untraced."""
        if not await self._untraced_exists(_ANY_UNPUBLISHED):
            return 0
        with _tracer.start_as_current_span("OutboxPgRepository.publish_next"):
            with postgres_errors():
                async with self._pool.acquire() as connection, connection.transaction():
                    rows = await self._claim(connection, limit)
                    if not rows:
                        return 0
                    await publish([event_from_row(row) for row in rows])
                    await connection.execute(_MARK_PUBLISHED, [row["id"] for row in rows])
            return len(rows)

    async def _untraced_exists(self, query: str, *args: Any) -> bool:
        with suppress_instrumentation(), postgres_errors():
            return bool(await self._pool.fetchval(query, *args))

    @staticmethod
    async def _claim(connection: asyncpg.Connection, limit: int) -> list[Any]:
        heads: Sequence[Any] = await connection.fetch(_CLAIM_HEADS, limit)
        users = list({row["user_id"] for row in heads if row["user_id"] is not None})
        if not users or len(heads) >= limit:
            return list(heads)
        followers: Sequence[Any] = await connection.fetch(
            _CLAIM_FOLLOWERS, users, [row["id"] for row in heads], limit - len(heads)
        )
        return sorted([*heads, *followers], key=lambda row: row["id"])

    async def prune_published(self, older_than_seconds: float, limit: int) -> int:
        """Delete a batch of old published rows (in a span of this name); none due, untraced."""
        if not await self._untraced_exists(_ANY_PRUNABLE, older_than_seconds):
            return 0
        with _tracer.start_as_current_span("OutboxPgRepository.prune_published"):
            with postgres_errors():
                status: str = await self._pool.execute(_PRUNE, older_than_seconds, limit)
            return int(status.split()[-1])  # "DELETE <count>"

    async def unpublished_count(self) -> int:
        """How many events wait for the relay (for metrics and tests)."""
        with postgres_errors():
            count: int = await self._pool.fetchval(
                "SELECT count(*) FROM event_outbox WHERE published_at IS NULL"
            )
        return count
