"""The relay's backlog on ``/metrics``: outbox events not yet published.

:class:`MeasuredOutbox` wraps the relay's outbox port and, after a round, at
most once per ``interval``, reads the number of unpublished events into the
``events_outbox_backlog`` gauge, on the registry it is given (the
application's, so the ``/metrics`` of a process running a relay serves it).
The relay's loop is the only caller, so the count costs one query per
interval while a relay runs, and nothing otherwise.
"""

from __future__ import annotations

import time
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge

from app.domain.event_ports import OutboxBatches, PublishBatch


class CountableOutbox(OutboxBatches, Protocol):
    async def unpublished_count(self) -> int: ...


class MeasuredOutbox:
    """An :class:`OutboxBatches` that keeps ``events_outbox_backlog`` current.

    Its gauge is on ``registry``; one relay per registry (None: exported nowhere).
    """

    def __init__(
        self, outbox: CountableOutbox, registry: CollectorRegistry | None, interval: float = 1.0
    ) -> None:
        self._outbox = outbox
        self._backlog = Gauge(
            "events_outbox_backlog",
            "Outbox events not yet published to the stream"
            " (read by the relay, at most once a second).",
            registry=registry,
        )
        self._interval = interval
        self._counted_at = float("-inf")

    async def publish_next(self, limit: int, publish: PublishBatch) -> int:
        published = await self._outbox.publish_next(limit, publish)
        now = time.monotonic()
        if now - self._counted_at >= self._interval:
            self._counted_at = now
            self._backlog.set(await self._outbox.unpublished_count())
        return published

    async def prune_published(self, older_than_seconds: float, limit: int) -> int:
        return await self._outbox.prune_published(older_than_seconds, limit)
