"""AuditLogPgRepository: the ``user_audit_log`` table, written idempotently."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

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
        with postgres_errors():
            # One array per column, as unnest takes them.
            columns = zip(*(_audit_values(event) for event in events), strict=True)
            await self._pool.execute(_RECORD, *(list(column) for column in columns))
