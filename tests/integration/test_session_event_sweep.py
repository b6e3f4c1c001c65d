"""On a Redis Cluster, session events whose forward never ran reach the stream by the
relay's sweep: from every master, in each user's order, none lost when forwarders race."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.session_event_sweeper import SessionEventSweeper
from app.adapters.redis.session_events import SessionEventForwarder
from app.adapters.redis.session_keys import SessionKeys
from app.adapters.redis.sessions import SessionRedisRepository
from app.adapters.redis.streams import encode_event
from app.bootstrap import build_redis, build_relay, event_streams
from app.config import Settings
from app.domain.events import Event, EventType
from app.domain.sessions import ROUTE_SEPARATOR
from app.lifecycle import Application
from tests.support.application import make_settings
from tests.support.events import sample_event, stream_events
from tests.support.redis_cluster import ThrowawayRedisCluster
from tests.support.sessions import create, principal


@pytest.fixture
def settings_on_cluster(redis_cluster: ThrowawayRedisCluster) -> Settings:
    """Cluster settings with a stream of this test's own and a sweep at every relay round."""
    return make_settings(
        redis={"url": redis_cluster.url, "cluster": True},
        events={
            "stream": f"events-test:sweep:{uuid.uuid4().hex[:8]}",
            "sweep_interval_seconds": 0.01,
        },
    )


@pytest.fixture
async def cluster_redis(settings_on_cluster: Settings) -> AsyncIterator[RedisClient]:
    """The service's own kind of cluster client (bounded, cluster-aware)."""
    client = build_redis(settings_on_cluster)
    yield client
    await client.aclose()


def session_keys(settings: Settings) -> SessionKeys:
    return SessionKeys(settings.redis.key_prefix, cluster=True, streams=event_streams(settings))


def as_the_scripts_write_it(event: Event) -> str:
    """A waiting entry as the session scripts append it: the fields, flat, as JSON."""
    return json.dumps([item for pair in encode_event(event).items() for item in pair])


async def leave_waiting(redis: RedisClient, keys: SessionKeys, events: list[Event]) -> None:
    for event in events:
        assert event.user_id is not None
        await redis.rpush(keys.waiting_events(event.user_id), as_the_scripts_write_it(event))


async def published(redis: RedisClient, settings: Settings) -> list[Event]:
    """The events on the test's stream, oldest first, one of each ``event_id``."""
    stream = event_streams(settings).keys[0]
    events = await stream_events(cast(Redis, redis), stream)
    return list({event.id: event for event in events}.values())


def by_user(events: list[Event]) -> dict[uuid.UUID | None, list[uuid.UUID]]:
    """Each user's event ids, in order (users' lists are swept in no particular order)."""
    ids: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for event in events:
        ids.setdefault(event.user_id, []).append(event.id)
    return ids


def sweeper_of(redis: RedisClient, settings: Settings, registry: Any = None) -> SessionEventSweeper:
    keys = session_keys(settings)
    forwarder = SessionEventForwarder(redis, keys, max_length=settings.events.max_length)
    return SessionEventSweeper(redis, keys, forwarder, registry)


async def test_the_relay_sweeps_waiting_events_of_users_on_every_master_in_each_users_order(
    application: Application,
    redis_cluster: ThrowawayRedisCluster,
    settings_on_cluster: Settings,
    cluster_redis: RedisClient,
):
    keys = session_keys(settings_on_cluster)
    users = [uuid.uuid4() for _ in range(12)]
    waiting = [sample_event(user) for user in users for _ in range(3)]
    await leave_waiting(cluster_redis, keys, waiting)
    masters = {redis_cluster.master_of(keys.waiting_events(user)).port for user in users}
    assert len(masters) == 3, "the users' lists spread over the three masters"
    registry = CollectorRegistry()
    relay = build_relay(settings_on_cluster, application.pool, cluster_redis, registry)

    assert await relay.sweep_if_due() == len(waiting)

    events = await published(cluster_redis, settings_on_cluster)
    assert by_user(events) == by_user(waiting)
    for user in users:
        assert await cluster_redis.exists(keys.waiting_events(user)) == 0
    assert registry.get_sample_value("session_events_swept_total") == len(waiting)


class StreamMasterDown(RedisCluster):
    """A cluster client whose pipelines (the forwarder's appends) find the stream's master down."""

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> ClusterPipeline:
        raise RedisConnectionError("the stream's master is down")


async def test_a_session_change_whose_forward_failed_is_published_by_the_next_sweep(
    redis_cluster: ThrowawayRedisCluster, settings_on_cluster: Settings, cluster_redis: RedisClient
):
    down = StreamMasterDown.from_url(redis_cluster.url, reinitialize_steps=0)
    store = SessionRedisRepository(
        down,
        key_prefix=settings_on_cluster.redis.key_prefix,
        ttl_seconds=60,
        absolute_lifetime_seconds=3600,
        max_per_user=10,
        user_refresh_seconds=30,
        streams=event_streams(settings_on_cluster),
        stream_max_length=10_000,
        cluster=True,
    )
    user = principal()
    try:
        assert await create(store, f"swept{ROUTE_SEPARATOR}{user.user.id.hex}", user) == 0
    finally:
        await down.aclose()
    assert await published(cluster_redis, settings_on_cluster) == []

    assert await sweeper_of(cluster_redis, settings_on_cluster).sweep() == 1

    events = await published(cluster_redis, settings_on_cluster)
    assert [(event.type, event.user_id) for event in events] == [
        (EventType.USER_LOGGED_IN, user.user.id)
    ]


async def test_sweeps_racing_a_forward_publish_every_event_once_at_least_in_order(
    settings_on_cluster: Settings, cluster_redis: RedisClient
):
    user = uuid.uuid4()
    waiting = [sample_event(user) for _ in range(200)]
    await leave_waiting(cluster_redis, session_keys(settings_on_cluster), waiting)
    sweeper = sweeper_of(cluster_redis, settings_on_cluster)
    forwarder = SessionEventForwarder(
        cluster_redis, session_keys(settings_on_cluster), max_length=100_000
    )

    await asyncio.gather(sweeper.sweep(), sweeper.sweep(), forwarder.forward(user))

    assert [event.id for event in await published(cluster_redis, settings_on_cluster)] == [
        event.id for event in waiting
    ]
    waiting_list = session_keys(settings_on_cluster).waiting_events(user)
    assert await cluster_redis.exists(waiting_list) == 0
