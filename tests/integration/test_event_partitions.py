"""Events split over partitions by user, on a real Redis node and a real Redis Cluster:
each user's events in one partition and in order, every partition consumed, dead
letters beside their partition, partitions spread over the cluster's masters."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import grpc
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.adapters.postgres.outbox import insert_event
from app.adapters.redis.partitioned_consumer import PartitionedConsumer
from app.adapters.redis.stream_consumer import ConsumerOptions
from app.adapters.redis.streams import (
    EventStreams,
    RedisStreamPublisher,
    dead_letter_key,
    partition_of,
)
from app.adapters.store_states import StoreStates
from app.bootstrap import build_audit_worker, build_redis, build_relay, event_streams
from app.config import Settings
from app.domain.events import Event
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.application import make_settings
from tests.support.client import eventually, registered_session
from tests.support.events import options, sample_event, stream_events
from tests.support.redis_cluster import ThrowawayRedisCluster

PARTITIONS = 4


@pytest.fixture
async def cluster_client(redis_cluster: ThrowawayRedisCluster) -> AsyncIterator[RedisCluster]:
    client = redis_cluster.cluster_client()
    yield client
    await client.aclose()


@pytest.fixture(params=["node", "cluster"])
def streams_redis(request: pytest.FixtureRequest) -> Redis | RedisCluster:
    """The run's Redis node, or a cluster client of the run's Redis Cluster."""
    client: Redis | RedisCluster = request.getfixturevalue(
        "redis" if request.param == "node" else "cluster_client"
    )
    return client


def partitioned(settings: Settings, partitions: int = PARTITIONS) -> EventStreams:
    """Partitioned streams of this test's own, under the run's key prefix."""
    name = f"events-test:partitions:{uuid.uuid4().hex[:8]}"
    return EventStreams(settings.redis.key_prefix, name, partitions)


def interleaved(users: int, each: int) -> list[Event]:
    """``each`` events of every one of ``users`` users, the users taking turns."""
    user_ids = [uuid.uuid4() for _ in range(users)]
    return [sample_event(user_id) for _ in range(each) for user_id in user_ids]


def by_user(events: Sequence[Event]) -> dict[uuid.UUID | None, list[uuid.UUID]]:
    """Each user's event ids, in the order given."""
    ordered: dict[uuid.UUID | None, list[uuid.UUID]] = defaultdict(list)
    for event in events:
        ordered[event.user_id].append(event.id)
    return dict(ordered)


async def publish_to(redis: Redis, streams: EventStreams, events: Sequence[Event]) -> None:
    await RedisStreamPublisher(redis, streams=streams, max_length=100_000).publish(events)


class OrderedRecorder:
    """A handler that records every event it handled, in the order it handled them."""

    def __init__(self, fails_on: uuid.UUID | None = None) -> None:
        self.handled: list[Event] = []
        self.fails_on = fails_on

    async def __call__(self, events: Sequence[Event]) -> None:
        if any(event.id == self.fails_on for event in events):
            raise RuntimeError(f"cannot handle {self.fails_on}")
        self.handled.extend(events)
        await asyncio.sleep(0.001)  # let the other partitions have a turn

    async def has(self, count: int) -> bool:
        return len(self.handled) >= count


async def consume_until(
    redis: Redis,
    streams: EventStreams,
    handler: OrderedRecorder,
    consumer_options: ConsumerOptions,
    done: Callable[[], Awaitable[bool]],
) -> None:
    """Run a partitioned consumer until ``done``; then stop it gracefully."""
    consumer = PartitionedConsumer(
        redis, streams=streams, handler=handler, options=consumer_options
    )
    await consumer.ensure_group()
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(done)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 10)
    assert task.exception() is None


async def test_each_users_events_land_in_one_partition_in_order_and_users_spread_over_all(
    streams_redis, settings
):
    streams = partitioned(settings)
    events = interleaved(users=40, each=5)
    await publish_to(streams_redis, streams, events)

    in_partitions = {key: await stream_events(streams_redis, key) for key in streams.keys}
    assert all(in_partitions.values()), "a partition got no user"
    assert sum(len(found) for found in in_partitions.values()) == len(events)
    for key, found in in_partitions.items():
        for user_id, ids in by_user(found).items():
            assert user_id is not None
            assert key == streams.keys[partition_of(user_id, PARTITIONS)]
            assert ids == by_user(events)[user_id]
    assert await streams_redis.exists(streams.unpartitioned) == 0


async def test_a_partitioned_consumer_handles_every_partition_once_each_users_events_in_order(
    streams_redis, settings
):
    streams = partitioned(settings)
    events = interleaved(users=30, each=4)
    await publish_to(streams_redis, streams, events)
    recorder = OrderedRecorder()
    group = options(batch_size=7)

    await consume_until(streams_redis, streams, recorder, group, lambda: recorder.has(len(events)))

    assert sorted(event.id for event in recorder.handled) == sorted(e.id for e in events)
    assert by_user(recorder.handled) == by_user(events)
    for key in streams.consumed:
        assert (await streams_redis.xpending(key, group.group))["pending"] == 0


async def test_an_event_that_always_fails_is_dead_lettered_beside_its_own_partition(
    streams_redis, settings
):
    streams = partitioned(settings)
    events = interleaved(users=8, each=2)
    poison = events[3]
    recorder = OrderedRecorder(fails_on=poison.id)
    group = options(max_deliveries=2, min_idle_milliseconds=50)
    await publish_to(streams_redis, streams, events)

    poison_stream = streams.key_for(poison)

    async def dead_lettered_and_the_rest_handled() -> bool:
        handled = await recorder.has(len(events) - 1)
        return handled and await _has_entries(streams_redis, dead_letter_key(poison_stream))

    await consume_until(streams_redis, streams, recorder, group, dead_lettered_and_the_rest_handled)

    [(_, fields)] = await streams_redis.xrange(dead_letter_key(poison_stream))
    assert fields[b"event_id"] == str(poison.id).encode()
    assert fields[b"dead_letter_deliveries"] == b"2"
    others = [key for key in streams.consumed if key != poison_stream]
    assert [await streams_redis.exists(dead_letter_key(key)) for key in others] == [0] * len(others)
    assert sorted(event.id for event in recorder.handled) == sorted(
        event.id for event in events if event is not poison
    )


async def _has_entries(redis: Redis, key: str) -> bool:
    return bool(await redis.xlen(key))


async def test_a_poison_event_on_the_unpartitioned_stream_is_dead_lettered_once_too(
    streams_redis, settings
):
    streams = partitioned(settings)
    unpartitioned = EventStreams(streams.prefix, streams.name)
    poison, healthy = sample_event(), sample_event()
    recorder = OrderedRecorder(fails_on=poison.id)
    group = options(max_deliveries=2, min_idle_milliseconds=50)
    await publish_to(streams_redis, unpartitioned, [poison, healthy])
    dead_letters = dead_letter_key(streams.unpartitioned)

    async def dead_lettered_and_acknowledged() -> bool:
        if not await _has_entries(streams_redis, dead_letters):
            return False
        return (await streams_redis.xpending(streams.unpartitioned, group.group))["pending"] == 0

    await consume_until(streams_redis, streams, recorder, group, dead_lettered_and_acknowledged)

    [(_, fields)] = await streams_redis.xrange(dead_letters)
    assert fields[b"event_id"] == str(poison.id).encode()
    assert [event.id for event in recorder.handled] == [healthy.id]


async def test_events_left_on_the_unpartitioned_stream_are_consumed_once_partitions_are_on(
    streams_redis, settings
):
    streams = partitioned(settings)
    before = interleaved(users=5, each=2)
    after = interleaved(users=5, each=2)
    await publish_to(streams_redis, EventStreams(streams.prefix, streams.name), before)
    await publish_to(streams_redis, streams, after)
    recorder = OrderedRecorder()

    total = len(before) + len(after)
    await consume_until(streams_redis, streams, recorder, options(), lambda: recorder.has(total))

    assert by_user(recorder.handled) == by_user(before) | by_user(after)


async def test_the_relay_and_the_worker_carry_each_users_events_through_the_partitions(
    stub, application
):
    settings = make_settings(
        events={
            "partitions": PARTITIONS,
            "group": f"audit-{uuid.uuid4().hex[:8]}",
            "block_milliseconds": 50,
            "relay_poll_interval_seconds": 0.02,
        }
    )
    relay = build_relay(settings, application.pool, application.redis)
    worker = await build_audit_worker(settings)
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(worker.run())]
    try:
        users = [uuid.UUID((await registered_session(stub))[0].uuid) for _ in range(8)]

        async def registered_and_logged_in() -> bool:
            rows = await application.pool.fetch(
                "SELECT user_id, event_type FROM user_audit_log WHERE user_id = ANY($1::uuid[])",
                users,
            )
            return {(row["user_id"], row["event_type"]) for row in rows} == {
                (user, kind) for user in users for kind in ("user.registered", "user.logged_in")
            }

        await eventually(registered_and_logged_in)
    finally:
        relay.stop()
        worker.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    partitions_used = {
        key
        for key in event_streams(settings).keys
        for event in await stream_events(application.redis, key)
        if event.user_id in users
    }
    assert len(partitions_used) > 1


async def test_partitions_spread_over_the_clusters_masters_each_with_its_dead_letters(
    redis_cluster, settings
):
    # The default stream's name: where its partitions land does not depend on the test.
    streams = EventStreams(settings.redis.key_prefix, "events:users", 8)
    masters = [redis_cluster.master_of(key).port for key in streams.keys]
    assert len(set(masters)) == len(redis_cluster.masters()) == 3
    for key in streams.keys:
        assert redis_cluster.slot_of(key) == redis_cluster.slot_of(dead_letter_key(key))


async def test_the_relay_and_the_worker_carry_on_by_themselves_when_a_partitions_master_dies(
    redis_cluster, application
):
    settings = make_settings(
        redis={"url": redis_cluster.url, "cluster": True},
        events={
            "partitions": 6,
            "group": f"audit-{uuid.uuid4().hex[:8]}",
            "block_milliseconds": 50,
            "relay_poll_interval_seconds": 0.02,
            "claim_interval_seconds": 0.2,
            "min_idle_milliseconds": 1000,
        },
    )
    relay_redis = build_redis(settings, states=StoreStates(open_seconds=1.0))
    relay = build_relay(settings, application.pool, relay_redis)
    worker = await build_audit_worker(settings)
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(worker.run())]
    try:
        before = await _outboxed(application, interleaved(users=12, each=1))
        await eventually(lambda: _projected(application, before, tasks))
        redis_cluster.master_of(event_streams(settings).keys[0]).kill()
        after = await _outboxed(application, interleaved(users=12, each=2))
        await eventually(lambda: _projected(application, after, tasks), timeout=60)
    finally:
        relay.stop()
        worker.stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        await relay_redis.aclose()
    assert all(task.exception() is None for task in tasks)


async def _outboxed(application, events: Sequence[Event]) -> set[uuid.UUID]:
    for event in events:
        await insert_event(application.pool, event)
    return {event.id for event in events}


async def _projected(
    application, event_ids: set[uuid.UUID], loops: Sequence[asyncio.Task[None]]
) -> bool:
    """Whether every one of ``event_ids`` is in the audit log; a loop's error if one ended."""
    for loop in loops:
        if loop.done():
            loop.result()
    count = await application.pool.fetchval(
        "SELECT count(*) FROM user_audit_log WHERE event_id = ANY($1::uuid[])", list(event_ids)
    )
    return bool(count == len(event_ids))


async def test_a_session_event_is_published_to_its_users_partition(make_application):
    partitioned_service = await make_application(
        events={"partitions": PARTITIONS, "stream": f"sessions-{uuid.uuid4().hex[:8]}"}
    )
    streams = event_streams(partitioned_service.settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{partitioned_service.port}") as channel:
        user, _ = await registered_session(pb_grpc.UserServiceStub(channel))
    user_id = uuid.UUID(user.uuid)

    async def types_in(key: str) -> list[str]:
        return [
            event.type
            for event in await stream_events(partitioned_service.redis, key)
            if event.user_id == user_id
        ]

    assert "user.logged_in" in await types_in(streams.key_for_user(user_id))
    for key in {*streams.consumed} - {streams.key_for_user(user_id)}:
        assert await types_in(key) == []
