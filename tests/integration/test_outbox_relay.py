"""The outbox relay: registrations reach the stream and the audit log, each once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from app.adapters.postgres.audit_log import AuditLogPgRepository
from app.adapters.postgres.outbox import OutboxPgRepository
from app.bootstrap import build_relay, build_relay_process, event_streams
from app.domain.events import Event, EventType
from app.lifecycle import Application
from app.usecases.audit import AuditLogProjector
from tests.support.application import make_settings
from tests.support.client import eventually, login, register, unique_email
from tests.support.events import options, running, sample_event, stream_events
from tests.support.metrics import scrape

BATCH = 50


@contextlib.asynccontextmanager
async def relaying(application: Application, relays: int = 1) -> AsyncIterator[None]:
    """``relays`` outbox relays running on the application's pool and Redis."""
    settings = make_settings(events={"relay_poll_interval_seconds": 0.02, "relay_batch_size": 50})
    started = [build_relay(settings, application.pool, application.redis) for _ in range(relays)]
    tasks = [asyncio.create_task(relay.run()) for relay in started]
    try:
        yield
    finally:
        for relay in started:
            relay.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def _registered(redis, settings, user_ids: set[uuid.UUID]) -> list[Event]:
    return [
        event
        for event in await stream_events(redis, event_streams(settings).unpartitioned)
        if event.type is EventType.USER_REGISTERED and event.user_id in user_ids
    ]


async def test_registrations_made_while_the_relay_is_stopped_are_published_when_it_starts(
    stub, application, redis, settings
):
    users = [await register(stub) for _ in range(3)]
    user_ids = {uuid.UUID(user.uuid) for user in users}
    await asyncio.sleep(0.1)
    assert await _registered(redis, settings, user_ids) == []

    async with relaying(application):
        await eventually(lambda: _count_is(redis, settings, user_ids, 3))
    published = await _registered(redis, settings, user_ids)
    assert {event.user_id for event in published} == user_ids


async def _count_is(redis, settings, user_ids, count: int) -> bool:
    return len(await _registered(redis, settings, user_ids)) >= count


async def _register_and_fail(stub, index: int) -> uuid.UUID:
    """Register; every tenth user also fails a login (a second event, after the first)."""
    email = unique_email(f"bulk{index}")
    user = await register(stub, email)
    if index % 10 == 0:
        with pytest.raises(grpc.aio.AioRpcError):
            await login(stub, email, "definitely the wrong password")
    return uuid.UUID(user.uuid)


async def _audit_rows(application, user_ids: list[uuid.UUID]) -> int:
    count: int = await application.pool.fetchval(
        "SELECT count(*) FROM user_audit_log WHERE user_id = ANY($1::uuid[])", user_ids
    )
    return count


async def test_a_thousand_registrations_with_the_relay_restarted_midway_arrive_once_in_order(
    stub, application, redis, settings
):
    total, failing = 1000, 100
    projector = AuditLogProjector(AuditLogPgRepository(application.pool))
    stream = event_streams(settings).unpartitioned
    user_ids: list[uuid.UUID] = []
    async with running(redis, stream, projector.project, options(batch_size=100)):
        async with relaying(application):
            for start in range(0, total // 2, BATCH):
                user_ids += await asyncio.gather(
                    *(_register_and_fail(stub, i) for i in range(start, start + BATCH))
                )
        # A restart, and two relays at once: SKIP LOCKED splits the rows between them.
        async with relaying(application, relays=2):
            for start in range(total // 2, total, BATCH):
                user_ids += await asyncio.gather(
                    *(_register_and_fail(stub, i) for i in range(start, start + BATCH))
                )
            await eventually(
                lambda: _audit_rows_are(application, user_ids, total + failing), timeout=60
            )

    assert await _audit_rows(application, user_ids) == total + failing
    published = [e for e in await stream_events(redis, stream) if e.user_id in set(user_ids)]
    registered = [e for e in published if e.type is EventType.USER_REGISTERED]
    assert len({event.id for event in registered}) == total
    assert {event.user_id for event in registered} == set(user_ids)
    first_seen: dict[uuid.UUID | None, EventType] = {}
    for event in published:
        first_seen.setdefault(event.user_id, event.type)
    assert set(first_seen.values()) == {EventType.USER_REGISTERED}


async def _audit_rows_are(application, user_ids, count: int) -> bool:
    return await _audit_rows(application, user_ids) >= count


async def _backlog(application, user_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """``count`` events of one user in the outbox, in order; their ids."""
    outbox = OutboxPgRepository(application.pool)
    made = [sample_event(user_id) for _ in range(count)]
    for event in made:
        await outbox.add(event)
    return [event.id for event in made]


async def _drained(relay) -> None:
    """Publish whatever earlier tests left in the outbox (bounded)."""
    for _ in range(1000):
        if await relay.relay_once() == 0:
            return
    raise AssertionError("the outbox never drained")


async def test_one_users_backlog_of_200_is_published_in_order_in_full_batches(
    application, redis, settings
):
    relay = build_relay(make_settings(events={"relay_batch_size": 100}), application.pool, redis)
    await _drained(relay)
    user_id = uuid.uuid4()
    expected = await _backlog(application, user_id, 200)

    batches = [await relay.relay_once() for _ in range(3)]

    assert batches == [100, 100, 0]
    published = await stream_events(redis, event_streams(settings).unpartitioned)
    assert [event.id for event in published if event.user_id == user_id] == expected


async def test_two_relays_publish_interleaved_backlogs_each_in_order(application, redis, settings):
    users = [uuid.uuid4() for _ in range(3)]
    expected: dict[uuid.UUID, list[uuid.UUID]] = {user: [] for user in users}
    for _ in range(40):
        for user in users:
            expected[user] += await _backlog(application, user, 1)

    async with relaying(application, relays=2):
        await eventually(lambda: _published_all(redis, settings, expected))

    published = await stream_events(redis, event_streams(settings).unpartitioned)
    for user, ids in expected.items():
        assert [event.id for event in published if event.user_id == user] == ids


async def _published_all(redis, settings, expected) -> bool:
    wanted = {event_id for ids in expected.values() for event_id in ids}
    published = await stream_events(redis, event_streams(settings).unpartitioned)
    return wanted <= {event.id for event in published}


async def test_the_relay_prunes_published_events_past_their_retention_in_batches(
    application, redis
):
    relay = build_relay(make_settings(), application.pool, redis)
    await _drained(relay)
    old = await _backlog(application, uuid.uuid4(), 25)
    await _drained(relay)
    await application.pool.execute(
        "UPDATE event_outbox SET published_at = now() - interval '8 days'"
        " WHERE event_id = ANY($1::uuid[])",
        old,
    )
    recent = await _backlog(application, uuid.uuid4(), 5)
    await _drained(relay)
    waiting = await _backlog(application, uuid.uuid4(), 5)
    outbox = OutboxPgRepository(application.pool)

    deleted = [await outbox.prune_published(7 * 24 * 3600, 10) for _ in range(4)]

    assert deleted == [10, 10, 5, 0]
    remaining = await application.pool.fetch(
        "SELECT event_id FROM event_outbox WHERE event_id = ANY($1::uuid[])", old + recent + waiting
    )
    assert {row["event_id"] for row in remaining} == set(recent + waiting)


async def test_the_running_relay_prunes_with_its_configured_retention(application, redis):
    settings = make_settings(
        events={
            "relay_poll_interval_seconds": 0.02,
            "outbox_retention_seconds": 0,
            "outbox_prune_interval_seconds": 0.05,
            "outbox_prune_batch_size": 7,
        }
    )
    ids = await _backlog(application, uuid.uuid4(), 20)
    relay = build_relay(settings, application.pool, redis)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _none_left(application, ids))
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)


async def _none_left(application, ids: list[uuid.UUID]) -> bool:
    left = await application.pool.fetchval(
        "SELECT count(*) FROM event_outbox WHERE event_id = ANY($1::uuid[])", ids
    )
    return bool(left == 0)


async def test_the_relay_process_serves_the_outbox_backlog_on_its_metrics(application):
    process = await build_relay_process(
        make_settings(events={"relay_poll_interval_seconds": 0.02}, metrics={"enabled": True})
    )
    task = asyncio.create_task(process.run())
    try:

        async def backlog_served() -> bool:
            port = process.resources.telemetry.metrics_port
            if not port:  # not started yet
                return False
            return any(sample.name == "events_outbox_backlog" for sample in await scrape(port))

        await eventually(backlog_served)
    finally:
        process.stop()
        await asyncio.wait_for(task, 10)
