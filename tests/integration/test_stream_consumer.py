"""The reusable stream consumer, on real Redis: nothing lost, nothing handled twice
in steady state, poison messages dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from app.adapters.redis.stream_consumer import StreamConsumer
from app.adapters.redis.stream_metrics import StreamMetrics
from app.adapters.redis.streams import dead_letter_key
from app.domain.events import Event
from tests.support.client import eventually
from tests.support.events import (
    Recorder,
    options,
    publish,
    running,
    sample_event,
    unique_stream,
)
from tests.support.logs import LogLines, captured_logs


class Holder:
    """A handler that takes its first batch and never returns: a consumer about to die."""

    def __init__(self) -> None:
        self.received: list[Event] = []
        self.got_some = asyncio.Event()

    async def __call__(self, events: Sequence[Event]) -> None:
        self.received.extend(events)
        self.got_some.set()
        await asyncio.Event().wait()


async def _start_and_kill(redis, stream, holder: Holder, consumer_options) -> None:
    consumer = StreamConsumer(redis, stream_key=stream, handler=holder, options=consumer_options)
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(holder.got_some.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_consumer_cancelled_before_acknowledging_gets_the_message_again_on_restart(
    redis, settings
):
    stream = unique_stream(settings)
    event = sample_event()
    consumer_options = options(consumer="restarting")
    holder = Holder()
    await publish(redis, stream, [event])
    await _start_and_kill(redis, stream, holder, consumer_options)
    assert [e.id for e in holder.received] == [event.id]
    assert (await redis.xpending(stream, consumer_options.group))["pending"] == 1

    recorder = Recorder()
    async with running(redis, stream, recorder, consumer_options):
        await eventually(lambda: recorder.has(1))
    assert recorder.handled == [event.id]
    assert (await redis.xpending(stream, consumer_options.group))["pending"] == 0


async def test_two_consumers_in_one_group_split_the_work_without_overlap(redis, settings):
    stream = unique_stream(settings)
    events = [sample_event() for _ in range(200)]
    first, second = Recorder(), Recorder()
    group = options().group
    async with (
        running(redis, stream, first, options(group=group, consumer="first")),
        running(redis, stream, second, options(group=group, consumer="second")),
    ):
        for start in range(0, len(events), 10):
            await publish(redis, stream, events[start : start + 10])
            await asyncio.sleep(0.005)
        await eventually(lambda: _total_at_least(len(events), first, second))
    assert not set(first.handled) & set(second.handled)
    assert set(first.handled) | set(second.handled) == {event.id for event in events}
    assert first.handled and second.handled


async def _total_at_least(count: int, *recorders: Recorder) -> bool:
    return sum(len(recorder.handled) for recorder in recorders) >= count


async def test_messages_of_a_dead_consumer_are_claimed_by_another_after_min_idle(redis, settings):
    stream = unique_stream(settings)
    events = [sample_event() for _ in range(5)]
    group = options().group
    holder = Holder()
    await publish(redis, stream, events)
    await _start_and_kill(redis, stream, holder, options(group=group, consumer="dying"))
    held = {event.id for event in holder.received}
    assert held

    survivor = Recorder()
    async with running(
        redis,
        stream,
        survivor,
        options(group=group, consumer="survivor", min_idle_milliseconds=300),
    ):
        await eventually(lambda: survivor.has(len(events)))
    assert set(survivor.handled) == {event.id for event in events}
    assert held <= set(survivor.handled)
    assert (await redis.xpending(stream, group))["pending"] == 0


class FailsOn:
    """A handler that always fails for one event and handles the others."""

    def __init__(self, poison: Event) -> None:
        self.poison = poison
        self.handled: list[Event] = []

    async def __call__(self, events: Sequence[Event]) -> None:
        if any(event.id == self.poison.id for event in events):
            raise RuntimeError(f"cannot handle {self.poison.id}")
        self.handled.extend(events)


async def test_a_message_that_always_fails_is_dead_lettered_after_max_deliveries(redis, settings):
    stream = unique_stream(settings)
    poison, healthy, later = sample_event(), sample_event(), sample_event()
    handler = FailsOn(poison)
    consumer_options = options(max_deliveries=3, min_idle_milliseconds=50)
    await publish(redis, stream, [poison, healthy])
    async with running(redis, stream, handler, consumer_options):
        await eventually(lambda: _length_at_least(redis, dead_letter_key(stream), 1))
        await publish(redis, stream, [later])
        await eventually(lambda: _handled(handler, later))
    [(_, fields)] = await redis.xrange(dead_letter_key(stream))
    assert fields[b"event_id"] == str(poison.id).encode()
    assert fields[b"dead_letter_deliveries"] == b"3"
    assert f"cannot handle {poison.id}".encode() in fields[b"dead_letter_error"]
    assert [event.id for event in handler.handled] == [healthy.id, later.id]
    assert (await redis.xpending(stream, consumer_options.group))["pending"] == 0


async def _length_at_least(redis, key: str, count: int) -> bool:
    return await redis.xlen(key) >= count


async def _handled(handler: FailsOn, event: Event) -> bool:
    return any(handled.id == event.id for handled in handler.handled)


async def test_a_group_created_after_100_events_receives_all_of_them(redis, settings):
    stream = unique_stream(settings)
    events = [sample_event() for _ in range(100)]
    await publish(redis, stream, events)
    recorder = Recorder()
    async with running(redis, stream, recorder, options(group="late", batch_size=30)):
        await eventually(lambda: recorder.has(len(events)))
    assert recorder.handled == [event.id for event in events]


async def test_lag_and_pending_are_reported_per_group(redis, settings):
    stream = unique_stream(settings)
    await publish(redis, stream, [sample_event() for _ in range(3)])
    registry = CollectorRegistry()
    consumer = StreamConsumer(
        redis,
        stream_key=stream,
        handler=Recorder(),
        options=options(group="metered"),
        metrics=StreamMetrics(registry),
    )
    await consumer.ensure_group()
    await consumer.report_group()

    labels = {"stream": stream, "group": "metered"}
    assert registry.get_sample_value("events_consumer_group_lag", labels) == 3
    assert registry.get_sample_value("events_consumer_group_pending", labels) == 0


async def test_a_summary_line_says_what_was_handled_by_type_with_the_lag(redis, settings):
    stream = unique_stream(settings)
    events = [sample_event() for _ in range(3)]
    await publish(redis, stream, events)
    recorder = Recorder()
    with captured_logs() as logs:
        async with running(redis, stream, recorder, options(group="summarised")):
            await eventually(lambda: recorder.has(len(events)))
            await eventually(lambda: _logged(logs, "events handled"))
        summaries = logs.events("events handled")

    assert [line["group"] for line in summaries] == ["summarised"]
    assert summaries[0]["by_type"] == {events[0].type.value: len(events)}
    assert summaries[0]["lag"] == 0


async def test_a_consumer_that_handled_nothing_logs_no_summary(redis, settings):
    stream = unique_stream(settings)
    await publish(redis, stream, [sample_event()])
    consumer = StreamConsumer(
        redis, stream_key=stream, handler=Recorder(), options=options(group="idle")
    )
    await consumer.ensure_group()
    with captured_logs() as logs:
        await consumer.report_group()

    assert logs.events("events handled") == []


async def _logged(logs: LogLines, event: str) -> bool:
    return bool(logs.events(event))
