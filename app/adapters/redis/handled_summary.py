"""A stream consumer's summary line: what it handled since the last one, by event type.

One line per claim interval in which anything was handled (not one per event),
with the group's lag and pending count, so a busy stream reads as a few lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import structlog

from app.domain.events import Event

logger = structlog.get_logger("app.adapters.redis.stream_consumer")


class HandledSummary:
    """Counts the events a consumer group member handled, by type, until reported."""

    def __init__(self, group: str) -> None:
        self._group = group
        self._types: Counter[str] = Counter()

    def count(self, events: Iterable[Event]) -> None:
        self._types.update(event.type.value for event in events)

    def report(self, lag: int | None, pending: int) -> None:
        """Log ``events handled`` (by type, with ``lag`` and ``pending``) if any were; restart."""
        if not self._types:
            return
        logger.info(
            "events handled",
            group=self._group,
            by_type=dict(self._types.most_common()),
            lag=lag,
            pending=pending,
        )
        self._types.clear()
