"""AuditLogPgRepository: the ``user_audit_log`` table, written idempotently; a deleted
user's events recorded late are erased as its deletion erased the others."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from app.adapters.postgres.erasure import erase_from_audit_log
from app.adapters.postgres.errors import postgres_errors
from app.adapters.postgres.event_rows import event_values
from app.domain.events import Event, EventType
from app.observability.tracing import traced

# One statement per batch; the event id is the primary key, so an event
# delivered again (at least once) is ignored rather than duplicated.
_RECORD = """
INSERT INTO user_audit_log
    (event_id, event_type, occurred_at, user_id, data, traceparent, actor_id, source_address)
SELECT * FROM unnest(
    $1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::jsonb[], $6::text[],
    $7::uuid[], $8::text[]
)
ON CONFLICT (event_id) DO NOTHING
"""


def _audit_values(event: Event) -> tuple[Any, ...]:
    """The event's columns, then who acted and from which network (from its data).

    The actor of a logout is its user. An ``actor_id`` that is not a UUID (the
    stream may carry anyone's entries) is left out rather than failing the batch.
    """
    try:
        actor: uuid.UUID | None = uuid.UUID(event.data["actor_id"])
    except (KeyError, ValueError):
        actor = event.user_id if event.type is EventType.USER_LOGGED_OUT else None
    return (*event_values(event), actor, event.data.get("source_address"))


class AuditLogPgRepository:
    """Satisfies ``AuditLog``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @traced
    async def record(self, events: Sequence[Event]) -> None:
        if not events:
            return
        # One array per column, as unnest takes them.
        columns = zip(*(_audit_values(event) for event in events), strict=True)
        arrays = [list(column) for column in columns]
        deleted = [e.user_id for e in events if e.type is EventType.USER_DELETED and e.user_id]
        with postgres_errors():
            if not deleted:
                await self._pool.execute(_RECORD, *arrays)
                return
            async with self._pool.acquire() as connection, connection.transaction():
                await connection.execute(_RECORD, *arrays)
                # Events of a deleted user recorded after its deletion (they
                # were still in the stream) are erased as its deletion erased.
                await erase_from_audit_log(connection, deleted)
