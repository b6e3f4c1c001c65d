"""User events on a Redis stream: the field codec and the publisher.

An event is one stream entry whose fields are (all strings, UTF-8)::

    schema_version  "1"
    event_id        UUID, unique per event: the key consumers deduplicate on
    type            user.registered | user.logged_in | user.logged_out | user.login_failed
                    | user.password_changed | user.role_changed | user.disabled
                    | user.enabled | session.revoked
    occurred_at     ISO 8601 with offset, UTC
    user_id         UUID; absent when no user is known (a login with an unknown email)
    data            a JSON object of strings, specific to the type (session.revoked:
                    reason and the session's handle, never its id)
    traceparent     W3C trace context of the causing request; absent when untraced

Every stream is capped with ``MAXLEN ~`` (approximate trimming is O(1)
amortised); a consumer group that falls further behind than the cap loses
the oldest entries, so the cap must exceed the worst backlog.

The events may be split over partitions (:class:`EventStreams`): a user's
events always go to the same one, so each user's events stay in order, and
each partition carries its own hash tag, so on a Redis Cluster the
partitions (and each one's dead letters, in its slot) spread over the masters.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self
from uuid import UUID

from redis.utils import str_if_bytes

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.domain.events import Event, EventType
from app.observability.tracing import traced

SCHEMA_VERSION = "1"

Fields = dict[str, str]


class MalformedEvent(ValueError):
    """A stream entry that is not an event of a schema this code understands."""


def stream_key(key_prefix: str, stream: str) -> str:
    """The Redis key of a configured stream: the service's key prefix, then its name."""
    return f"{key_prefix}{stream}"


def dead_letter_key(stream_key: str) -> str:
    """Where the consumers of a stream keep what they gave up on (in its slot, if tagged)."""
    return f"{stream_key}:dlq"


def partition_of(key: UUID, partitions: int) -> int:
    """The partition of a user (or of an event without one): CRC-32 of the UUID's text, mod N.

    Stable across processes and languages, so any producer can pick the same one.
    """
    return zlib.crc32(str(key).encode()) % partitions


@dataclass(frozen=True, slots=True)
class EventStreams:
    """The Redis keys of the events: one stream, or ``partitions`` streams chosen by user.

    With one partition the key is today's, ``<prefix><name>``; with more, the
    keys are ``<prefix>{<name>:<n>}`` for n in 0..N-1, the braces a hash tag of
    each partition's own. With more than one, :attr:`consumed` also holds the
    unpartitioned key: what was published before the partitions (and any
    producer that still writes there) is read to its end.
    """

    prefix: str
    name: str
    partitions: int = 1
    #: The keys producers write to, partition 0 first (made once: the relay asks per event).
    keys: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        keys = (
            (self.unpartitioned,)
            if self.partitions == 1
            else tuple(f"{self.prefix}{{{self.name}:{n}}}" for n in range(self.partitions))
        )
        object.__setattr__(self, "keys", keys)

    @classmethod
    def single(cls, key: str) -> Self:
        """One stream under a key given whole (no prefix of its own)."""
        return cls("", key)

    @property
    def unpartitioned(self) -> str:
        return stream_key(self.prefix, self.name)

    @property
    def consumed(self) -> tuple[str, ...]:
        """The keys consumers read: the partitions, and the unpartitioned stream."""
        return self.keys if self.partitions == 1 else (*self.keys, self.unpartitioned)

    def key_for(self, event: Event) -> str:
        """The stream of an event: its user's partition (its own id's, without a user)."""
        return self.key_for_user(event.user_id or event.id)

    def key_for_user(self, user_id: UUID) -> str:
        """The stream of a user's events, for any producer that writes them."""
        if self.partitions == 1:
            return self.unpartitioned
        return self.keys[partition_of(user_id, self.partitions)]

    def describe(self) -> str:
        """The keys in one short line, for logs."""
        if self.partitions == 1:
            return self.unpartitioned
        return f"{self.prefix}{{{self.name}:0..{self.partitions - 1}}}"


def encode_envelope(event: Event) -> Fields:
    """The fields every event starts with: schema version, id, type and time."""
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": str(event.id),
        "type": event.type.value,
        "occurred_at": event.occurred_at.isoformat(),
    }


def encode_event(event: Event) -> Fields:
    fields = encode_envelope(event)
    fields["data"] = json.dumps(dict(event.data), separators=(",", ":"), sort_keys=True)
    if event.user_id is not None:
        fields["user_id"] = str(event.user_id)
    if event.traceparent:
        fields["traceparent"] = event.traceparent
    return fields


def decode_event(raw: Mapping[str | bytes, str | bytes]) -> Event:
    """The event in a stream entry's fields; :class:`MalformedEvent` if it is not one."""
    fields = {str_if_bytes(name): str_if_bytes(value) for name, value in raw.items()}
    try:
        if fields["schema_version"] != SCHEMA_VERSION:
            raise MalformedEvent(f"unknown schema_version {fields['schema_version']!r}")
        data = json.loads(fields["data"])
        if not isinstance(data, dict):
            raise MalformedEvent("data is not a JSON object")
        user_id = fields.get("user_id")
        return Event(
            id=UUID(fields["event_id"]),
            type=EventType(fields["type"]),
            occurred_at=datetime.fromisoformat(fields["occurred_at"]),
            user_id=UUID(user_id) if user_id else None,
            data={str(name): str(value) for name, value in data.items()},
            traceparent=fields.get("traceparent"),
        )
    except (KeyError, ValueError) as err:
        if isinstance(err, MalformedEvent):
            raise
        raise MalformedEvent(f"not an event: {err!r}") from err


class RedisStreamPublisher:
    """Satisfies ``EventPublisher``: pipelined ``XADD … MAXLEN ~`` to each event's user's stream."""

    def __init__(self, redis: RedisClient, *, streams: EventStreams, max_length: int) -> None:
        self._redis = redis
        self._streams = streams
        self._max_length = max_length

    @traced
    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        with redis_errors():
            # Commands in order on each node's connection: every stream keeps
            # the batch's order (a cluster's pipeline splits it by node).
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.xadd(
                        self._streams.key_for(event),
                        encode_event(event),  # type: ignore[arg-type]
                        maxlen=self._max_length,
                        approximate=True,
                    )
                await pipe.execute()
