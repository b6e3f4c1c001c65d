"""StreamConsumer: a Redis consumer group member that loses nothing.

The contract, at least once:

* The group is created on first use (``XGROUP CREATE … MKSTREAM``) at the
  configured start id (``0``: a late group still gets the stream's history).
* On start the consumer first re-reads its own pending entries (ID ``0``)
  until none are left, then reads new ones (``>``) in batches bounded by
  ``COUNT`` and ``BLOCK``. Entries are acknowledged (one ``XACK`` per batch)
  only after the handler returned: a crash leaves them pending, to be read
  again on restart or claimed by another member.
* Every ``claim_interval_seconds`` it ``XAUTOCLAIM``s entries idle longer than
  ``min_idle_milliseconds`` (those of dead members, and its own failures,
  which is how a failed entry is retried).
* An entry delivered ``max_deliveries`` times whose handler still fails (or
  that was never acknowledged that often, or cannot be decoded) is copied to
  ``<stream>:dlq`` with the error and acknowledged, in one MULTI/EXEC: the
  :mod:`~app.adapters.redis.dead_letters` policy.
* :meth:`StreamConsumer.stop` ends the loop after the batch in hand; a
  cancelled consumer leaves its batch pending.

The handler takes a batch; when it raises, each event is retried alone so
one bad event does not hold back the rest. Handlers must be idempotent: an
event may be handled more than once (after a crash, or a batch retried).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry import trace
from redis.exceptions import ResponseError
from redis.utils import str_if_bytes

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.dead_letters import (
    ERROR_MAX_CHARACTERS,
    DeadLetter,
    DeadLetterPolicy,
    Entry,
)
from app.adapters.redis.errors import redis_errors, reply_code
from app.adapters.redis.stream_metrics import StreamMetrics
from app.domain.errors import StoreFault, StoreUnavailable
from app.domain.events import Event
from app.observability.trace_context import links_to
from app.stoppable_loop import Backoff, StoppableLoop

logger = structlog.get_logger(__name__)
_tracer = trace.get_tracer("app")

Handler = Callable[[Sequence[Event]], Awaitable[None]]

MAX_CLAIM_ROUNDS = 10
#: The first wait after Redis failed is twice this; it doubles up to the loop's maximum.
BACKOFF_BASE_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    group: str
    consumer: str
    start_id: str = "0"
    batch_size: int = 100
    block_milliseconds: int = 1000
    min_idle_milliseconds: int = 30_000
    claim_interval_seconds: float = 5.0
    max_deliveries: int = 5
    dead_letter_max_length: int = 100_000


def _entries(response: Any) -> list[Entry]:
    """The entries of an XREADGROUP reply for one stream (RESP2 or RESP3)."""
    if not response:
        return []
    streams = response.values() if isinstance(response, dict) else (s[1] for s in response)
    return [
        (str_if_bytes(entry_id), fields or {})
        for entries in streams
        for entry_id, fields in entries
    ]


class StreamConsumer:
    """One member of a consumer group on one stream, feeding batches to ``handler``.

    ``metrics`` are where it counts (the application's); without them it
    counts on metrics exported nowhere.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        stream_key: str,
        handler: Handler,
        options: ConsumerOptions,
        metrics: StreamMetrics | None = None,
    ) -> None:
        self._redis = redis
        self._stream = stream_key
        self._handler = handler
        self._options = options
        self._metrics = (metrics or StreamMetrics(None)).consumer(stream_key, options.group)
        self._dead_letters = DeadLetterPolicy(
            redis,
            stream_key,
            group=options.group,
            consumer=options.consumer,
            max_deliveries=options.max_deliveries,
            max_length=options.dead_letter_max_length,
            dead_lettered=self._metrics.dead_lettered,
        )
        self._loop = StoppableLoop(
            Backoff(
                # A fault is logged and retried too: the worker outlives a bad key.
                retry_on=(StoreUnavailable, StoreFault),
                base_seconds=BACKOFF_BASE_SECONDS,
                logger=logger,
                failure_event="stream consumer failed",
            )
        )

    async def ensure_group(self) -> None:
        """Create the group (and the stream) unless it exists."""
        with redis_errors():
            try:
                await self._redis.xgroup_create(
                    self._stream, self._options.group, id=self._options.start_id, mkstream=True
                )
            except ResponseError as err:
                if reply_code(err) != "BUSYGROUP":
                    raise

    async def run(self) -> None:
        """Consume until :meth:`stop`; Redis outages are logged and retried with back-off."""
        self._loop.rearm()
        await self._loop.run(self._consume)

    def stop(self) -> None:
        """Stop reading; :meth:`run` returns once the batch in hand is done."""
        self._loop.stop()

    async def _consume(self) -> float:
        """Read until stopped (then no wait is asked for); raises when Redis fails."""
        await self.ensure_group()
        await self._drain_own_pending()
        loop = asyncio.get_running_loop()
        next_claim = loop.time()
        while not self._loop.stopping:
            if loop.time() >= next_claim:
                await self.claim_idle()
                await self.report_group()
                next_claim = loop.time() + self._options.claim_interval_seconds
            entries = await self._read(">", block=self._options.block_milliseconds)
            await self._process(entries, {})
        return 0.0

    async def _drain_own_pending(self) -> None:
        """Re-read what this consumer received and never acknowledged (a crash)."""
        start = "0"
        while not self._loop.stopping:
            entries = await self._read(start, block=None)
            if not entries:
                return
            await self._process(entries, await self._delivery_counts(entries))
            start = entries[-1][0]

    async def claim_idle(self) -> None:
        """Take over entries idle longer than the min-idle time, and handle them."""
        start = "0-0"
        for _ in range(MAX_CLAIM_ROUNDS):
            with redis_errors():
                reply = await self._redis.xautoclaim(
                    self._stream,
                    self._options.group,
                    self._options.consumer,
                    self._options.min_idle_milliseconds,
                    start_id=start,
                    count=self._options.batch_size,
                )
            start = str_if_bytes(reply[0])
            entries = [(str_if_bytes(entry_id), fields or {}) for entry_id, fields in reply[1]]
            if entries:
                await self._process(entries, await self._delivery_counts(entries))
            if start == "0-0" or self._loop.stopping:
                return

    async def report_group(self) -> None:
        """Refresh the lag and pending gauges from ``XINFO GROUPS``."""
        with redis_errors():
            groups = await self._redis.xinfo_groups(self._stream)
        for group in groups:
            if str_if_bytes(group["name"]) == self._options.group:
                self._metrics.pending.set(group["pending"])
                if group.get("lag") is not None:
                    self._metrics.lag.set(group["lag"])

    async def _read(self, start: str, *, block: int | None) -> list[Entry]:
        with redis_errors():
            response = await self._redis.xreadgroup(
                self._options.group,
                self._options.consumer,
                {self._stream: start},
                count=self._options.batch_size,
                block=block,
            )
        return _entries(response)

    async def _delivery_counts(self, entries: Sequence[Entry]) -> dict[str, int]:
        """How often each entry has been delivered (``XPENDING``), pipelined."""
        with redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry_id, _ in entries:
                    pipe.xpending_range(
                        self._stream, self._options.group, min=entry_id, max=entry_id, count=1
                    )
                replies = await pipe.execute()
        return {
            str_if_bytes(row["message_id"]): int(row["times_delivered"])
            for rows in replies
            for row in rows
        }

    async def _process(self, entries: Sequence[Entry], deliveries: Mapping[str, int]) -> None:
        """Handle a batch, then acknowledge it and dead-letter what must be."""
        if not entries:
            return
        batch = self._dead_letters.sort(entries, deliveries)
        failures = await self._handle(batch.decoded)
        handled = [entry[0] for entry, _ in batch.decoded if entry[0] not in failures]
        self._metrics.handled.inc(len(handled))
        if failures:
            batch.dead += await self._exhausted(batch.decoded, failures)
        await self._dead_letters.acknowledge(batch.acknowledged + handled, batch.dead)

    async def _handle(self, decoded: Sequence[tuple[Entry, Event]]) -> dict[str, str]:
        """Run the handler on the batch, then one by one if it failed; errors by entry id."""
        if not decoded:
            return {}
        try:
            await self._call([event for _, event in decoded])
            return {}
        except Exception as err:
            if len(decoded) == 1:
                return {decoded[0][0][0]: repr(err)[:ERROR_MAX_CHARACTERS]}
        failures = {}
        for entry, event in decoded:
            try:
                await self._call([event])
            except Exception as err:
                failures[entry[0]] = repr(err)[:ERROR_MAX_CHARACTERS]
        return failures

    async def _call(self, events: Sequence[Event]) -> None:
        with _tracer.start_as_current_span(
            f"{self._options.group} process",
            kind=trace.SpanKind.CONSUMER,
            links=links_to(event.traceparent for event in events),
            attributes={
                "messaging.system": "redis",
                "messaging.destination.name": self._stream,
                "messaging.consumer.group.name": self._options.group,
                "messaging.batch.message_count": len(events),
            },
        ):
            started = time.perf_counter()
            try:
                await self._handler(events)
            finally:
                self._metrics.handler_seconds.observe(time.perf_counter() - started)

    async def _exhausted(
        self, decoded: Sequence[tuple[Entry, Event]], failures: Mapping[str, str]
    ) -> list[DeadLetter]:
        """The failed entries that have used up their deliveries; the rest stay pending."""
        self._metrics.failed.inc(len(failures))
        failed = [entry for entry, _ in decoded if entry[0] in failures]
        counts = await self._delivery_counts(failed)
        for entry_id, _ in failed:
            logger.warning(
                "event handler failed",
                stream=self._stream,
                group=self._options.group,
                entry_id=entry_id,
                deliveries=counts.get(entry_id),
                error=failures[entry_id],
            )
        return self._dead_letters.given_up(failed, failures, counts)
