"""Test helpers for user events: make them, publish them, read streams, run consumers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from redis.asyncio import Redis

from app.adapters.redis.stream_consumer import ConsumerOptions, Handler, StreamConsumer
from app.adapters.redis.streams import EventStreams, RedisStreamPublisher, decode_event
from app.config import Settings
from app.domain.events import Event, EventType, LoginFailure, user_login_failed

# A stream entry's fields as redis-py returns them, and as ``decode_event`` reads them.
StreamFields = dict[str | bytes, str | bytes]


def sample_event(user_id: uuid.UUID | None = None) -> Event:
    """An event for streams tests; a failed login, as it needs no user."""
    return user_login_failed(
        LoginFailure.UNKNOWN_EMAIL,
        email="nobody@example.com",
        user_id=user_id or uuid.uuid4(),
    )


def unique_stream(settings: Settings, tag: str = "stream") -> str:
    """A stream key of this run's own (removed with the run's keys at the end)."""
    return f"{settings.redis.key_prefix}events-test:{tag}:{uuid.uuid4().hex[:8]}"


async def publish(redis: Redis, stream: str, events: Sequence[Event]) -> None:
    publisher = RedisStreamPublisher(redis, streams=EventStreams.single(stream), max_length=100_000)
    await publisher.publish(events)


async def stream_events(redis: Redis, stream: str) -> list[Event]:
    """Every event in ``stream``, oldest first."""
    entries = cast(list[tuple[bytes, StreamFields]], await redis.xrange(stream))
    return [decode_event(fields) for _, fields in entries]


async def revocations(redis: Redis, settings: Settings, user_id: str) -> list[dict[str, str]]:
    """The data (``reason``, ``handle``) of every ``session.revoked`` event of the user."""
    stream = f"{settings.redis.key_prefix}{settings.events.stream}"
    return [
        dict(event.data)
        for event in await stream_events(redis, stream)
        if event.type is EventType.SESSION_REVOKED and str(event.user_id) == user_id
    ]


def options(**fields: Any) -> ConsumerOptions:
    """Consumer options for tests: short blocks and intervals, unless overridden."""
    values: dict[str, Any] = {
        "group": f"group-{uuid.uuid4().hex[:8]}",
        "consumer": "consumer-1",
        "batch_size": 10,
        "block_milliseconds": 50,
        "min_idle_milliseconds": 60_000,
        "claim_interval_seconds": 0.05,
        "max_deliveries": 3,
    }
    values.update(fields)
    return ConsumerOptions(**values)


@contextlib.asynccontextmanager
async def running(
    redis: Redis, stream: str, handler: Handler, consumer_options: ConsumerOptions
) -> AsyncIterator[StreamConsumer]:
    """A consumer running in the background; stopped gracefully on exit."""
    consumer = StreamConsumer(redis, stream_key=stream, handler=handler, options=consumer_options)
    await consumer.ensure_group()
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 10)


class Recorder:
    """A handler that records the ids of the events it handled, by consumer."""

    def __init__(self) -> None:
        self.handled: list[uuid.UUID] = []

    async def __call__(self, events: Sequence[Event]) -> None:
        self.handled.extend(event.id for event in events)
        await asyncio.sleep(0.001)  # let other consumers have a turn

    async def has(self, count: int) -> bool:
        return len(self.handled) >= count
