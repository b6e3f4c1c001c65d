"""The courier on ``/metrics``: messages sent, failed and abandoned by kind; the queue.

:class:`MeasuredMessageQueue` wraps the courier's queue port: it counts each
outcome by the message's kind, and after a round, at most once per
``interval``, reads how many messages wait and the age of the oldest into two
gauges. The courier's loop is the only caller, so the gauges cost one query
per interval while a courier runs (a courier without an SMTP server reads
nothing: the queue then only grows, which the logs say once).
"""

from __future__ import annotations

import time
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from app.domain.mail import Abandoned, Backlog, Deliver, Delivery, MessageQueue, RetryLater


class MeasurableQueue(MessageQueue, Protocol):
    async def backlog(self) -> Backlog: ...


class MeasuredMessageQueue:
    """A :class:`MessageQueue` that counts outcomes; its metrics on ``registry``
    (one courier per registry; None: exported nowhere)."""

    def __init__(
        self, queue: MeasurableQueue, registry: CollectorRegistry | None, interval: float = 1.0
    ) -> None:
        self._queue = queue
        self._sent = Counter(
            "mail_messages_sent", "Messages the SMTP server accepted.", ["kind"], registry=registry
        )
        self._failed = Counter(
            "mail_messages_failed",
            "Attempts that failed and will be retried.",
            ["kind"],
            registry=registry,
        )
        self._abandoned = Counter(
            "mail_messages_abandoned",
            "Messages given up on (refused, or the last attempt failed).",
            ["kind"],
            registry=registry,
        )
        self._depth = Gauge(
            "mail_queue_depth",
            "Messages waiting to be sent (read by the courier, at most once a second).",
            registry=registry,
        )
        self._oldest = Gauge(
            "mail_queue_oldest_age_seconds",
            "How long the oldest waiting message has waited (0: none waits).",
            registry=registry,
        )
        self._interval = interval
        self._measured_at = float("-inf")

    async def deliver_next(self, deliver: Deliver) -> Delivery | None:
        delivery = await self._queue.deliver_next(deliver)
        if delivery is not None:
            counter = (
                self._abandoned
                if isinstance(delivery.outcome, Abandoned)
                else self._failed
                if isinstance(delivery.outcome, RetryLater)
                else self._sent
            )
            counter.labels(kind=delivery.kind.value).inc()
        now = time.monotonic()
        if now - self._measured_at >= self._interval:
            self._measured_at = now
            backlog = await self._queue.backlog()
            self._depth.set(backlog.depth)
            self._oldest.set(backlog.oldest_age_seconds)
        return delivery
