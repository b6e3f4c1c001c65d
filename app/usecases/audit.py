"""AuditLogProjector: the audit trail of user events, projected from the stream."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.event_ports import AuditLog
from app.domain.events import Event
from app.observability.tracing import traced


class AuditLogProjector:
    """Records every user event once, however often it is delivered.

    It is a stream handler: give :meth:`project` to a consumer. Idempotence
    is the audit log's (the event id is unique), so redelivery is harmless.
    """

    def __init__(self, audit_log: AuditLog) -> None:
        self._audit_log = audit_log

    @traced
    async def project(self, events: Sequence[Event]) -> None:
        await self._audit_log.record(events)
