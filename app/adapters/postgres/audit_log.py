"""AuditLogPgRepository: the ``user_audit_log`` table, written idempotently."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from app.adapters.postgres.errors import postgres_errors
from app.adapters.postgres.event_rows import event_values
from app.domain.events import Event
from app.observability.tracing import traced

# One statement per batch; the event id is the primary key, so an event
# delivered again (at least once) is ignored rather than duplicated.
_RECORD = """
INSERT INTO user_audit_log (event_id, event_type, occurred_at, user_id, data, traceparent)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::jsonb[], $6::text[])
ON CONFLICT (event_id) DO NOTHING
"""


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
            columns = zip(*(event_values(event) for event in events), strict=True)
            await self._pool.execute(_RECORD, *(list(column) for column in columns))
