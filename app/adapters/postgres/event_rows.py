"""The one codec between an :class:`Event` and a row of the event tables.

``event_outbox`` and ``user_audit_log`` hold an event in the same columns:
``event_id, event_type, occurred_at, user_id, data, traceparent``, the order
of :func:`event_values`.
"""

from __future__ import annotations

import json
from typing import Any

from app.domain.events import Event, EventType


def event_values(event: Event) -> tuple[Any, ...]:
    """The values of ``event`` for the event columns, in order (``data`` as JSON text)."""
    return (
        event.id,
        event.type.value,
        event.occurred_at,
        event.user_id,
        json.dumps(dict(event.data)),
        event.traceparent,
    )


def event_from_row(row: Any) -> Event:
    """The event in a row that has the event columns."""
    return Event(
        id=row["event_id"],
        type=EventType(row["event_type"]),
        occurred_at=row["occurred_at"],
        user_id=row["user_id"],
        data=json.loads(row["data"]),
        traceparent=row["traceparent"],
    )
