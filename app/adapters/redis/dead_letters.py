"""The dead-letter policy of a stream consumer: when it gives up on an entry, and how.

A :class:`~app.adapters.redis.stream_consumer.StreamConsumer` reads a batch and
hands it to :meth:`DeadLetterPolicy.sort`, which sets apart:

* entries trimmed from the stream before they were handled (no fields left):
  acknowledged, there is nothing to handle;
* entries delivered more than ``max_deliveries`` times without being
  acknowledged, and entries that are not events (:class:`MalformedEvent`):
  dead letters at once;
* the rest, decoded, for the handler.

An entry whose handler failed on its ``max_deliveries``-th delivery is a dead
letter too (:meth:`DeadLetterPolicy.given_up`); one that failed earlier stays
pending, to be claimed and retried. :meth:`DeadLetterPolicy.acknowledge` copies
the dead letters to ``<stream>:dlq``, with the error and the delivery count,
and acknowledges them with the handled entries: in one MULTI/EXEC when there
are dead letters, so an entry is never both lost and unrecorded.

On a Redis Cluster a transaction holds the keys of one slot only. A
partition's dead letters share its hash tag, so they stay atomic; the
unpartitioned stream's (no tag) are copied first and acknowledged after, so a
crash between the two records an entry twice, never not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.crc import key_slot
from redis.utils import str_if_bytes

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.adapters.redis.streams import MalformedEvent, dead_letter_key, decode_event
from app.domain.events import Event

logger = structlog.get_logger(__name__)

RawFields = Mapping[Any, Any]
Entry = tuple[str, RawFields]

#: A handler's error is cut to this length in the dead letter.
ERROR_MAX_CHARACTERS = 2000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    entry_id: str
    fields: RawFields
    error: str
    deliveries: int


@dataclass(slots=True)
class SortedBatch:
    """A batch read from the stream, sorted by what becomes of each entry."""

    acknowledged: list[str] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    decoded: list[tuple[Entry, Event]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeadLetterPolicy:
    """When one consumer of ``stream_key`` in ``group`` gives up, and how it records it."""

    redis: RedisClient
    stream_key: str
    group: str
    consumer: str
    max_deliveries: int
    max_length: int
    dead_lettered: Counter

    #: Whether the dead letters and the acknowledgement can share one transaction.
    atomic: bool = field(init=False)

    def __post_init__(self) -> None:
        dead_letters = dead_letter_key(self.stream_key)
        same_slot = key_slot(dead_letters.encode()) == key_slot(self.stream_key.encode())
        object.__setattr__(self, "atomic", same_slot or not isinstance(self.redis, RedisCluster))

    def sort(self, entries: Sequence[Entry], deliveries: Mapping[str, int]) -> SortedBatch:
        """Set apart what needs no handler (trimmed) and what must not reach it (dead)."""
        batch = SortedBatch()
        for entry in entries:
            entry_id, fields = entry
            count = deliveries.get(entry_id, 1)
            if not fields:  # trimmed from the stream before it was handled
                batch.acknowledged.append(entry_id)
            elif count > self.max_deliveries:
                error = f"delivered {count} times without being acknowledged"
                batch.dead.append(DeadLetter(entry_id, fields, error, count))
            else:
                try:
                    batch.decoded.append((entry, decode_event(fields)))
                except MalformedEvent as err:
                    batch.dead.append(DeadLetter(entry_id, fields, repr(err), count))
        return batch

    def given_up(
        self, failed: Sequence[Entry], errors: Mapping[str, str], deliveries: Mapping[str, int]
    ) -> list[DeadLetter]:
        """The failed entries that have used up their deliveries; the rest stay pending."""
        return [
            DeadLetter(entry_id, fields, errors[entry_id], deliveries[entry_id])
            for entry_id, fields in failed
            if deliveries.get(entry_id, 0) >= self.max_deliveries
        ]

    async def acknowledge(self, entry_ids: Sequence[str], dead: Sequence[DeadLetter]) -> None:
        """One ``XACK`` for the batch; dead letters copied first, atomically where it can be."""
        if not entry_ids and not dead:
            return
        with redis_errors():
            if dead and not self.atomic:
                async with self.redis.pipeline(transaction=False) as pipe:
                    self._copy(pipe, dead)
                    await pipe.execute()
            async with self.redis.pipeline(transaction=bool(dead) and self.atomic) as pipe:
                if self.atomic:
                    self._copy(pipe, dead)
                pipe.xack(self.stream_key, self.group, *entry_ids, *(d.entry_id for d in dead))
                await pipe.execute()
        if dead:
            self.dead_lettered.inc(len(dead))
            logger.error(
                "events dead-lettered",
                stream=self.stream_key,
                group=self.group,
                entry_ids=[letter.entry_id for letter in dead],
            )

    def _copy(self, pipe: Pipeline | ClusterPipeline, dead: Sequence[DeadLetter]) -> None:
        for letter in dead:
            pipe.xadd(
                dead_letter_key(self.stream_key),
                self._record(letter),  # type: ignore[arg-type]
                maxlen=self.max_length,
                approximate=True,
            )

    def _record(self, letter: DeadLetter) -> dict[str, str]:
        """The entry's own fields, and why, when and by whom it was given up."""
        fields = {str_if_bytes(name): str_if_bytes(value) for name, value in letter.fields.items()}
        fields.update(
            {
                "dead_letter_source_id": letter.entry_id,
                "dead_letter_group": self.group,
                "dead_letter_consumer": self.consumer,
                "dead_letter_deliveries": str(letter.deliveries),
                "dead_letter_error": letter.error,
                "dead_letter_at": datetime.now(UTC).isoformat(),
            }
        )
        return fields
