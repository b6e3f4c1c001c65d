"""Events per second through outbox → relay → stream → consumer → audit-log projection.

Two runs of the same pipeline on the same stores, one after the other:

* **batched**: the service's own pieces: the relay (batches of 100, pipelined
  XADD) and the ``StreamConsumer`` (XREADGROUP COUNT 100, one INSERT per batch,
  one XACK per batch);
* **baseline**: the same relay, but a consumer that reads one message, projects
  it and acknowledges it per round trip (COUNT 1, one INSERT, one XACK).

Each run starts with the same number of events waiting in the outbox and ends
when the last audit row is written. It makes its own database and Redis key
prefix and removes both. ``BENCH_EVENTS`` sets the number of events.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import bench_settings

from app.adapters.postgres.audit_log import AuditLogPgRepository
from app.adapters.postgres.database import create_pool, prepare_database
from app.adapters.postgres.outbox import insert_event
from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.stream_consumer import ConsumerOptions, StreamConsumer
from app.adapters.redis.streams import decode_event
from app.bootstrap import build_redis, build_relay, event_streams
from app.config import Settings
from app.domain.events import LoginFailure, user_login_failed
from app.observability.setup.logging import configure_logging
from app.usecases.audit import AuditLogProjector
from tests.support.isolation import remove_run_data

EVENTS = int(os.environ.get("BENCH_EVENTS", "5000"))

Consume = Callable[[], Coroutine[Any, Any, None]]
MakeConsumer = Callable[[RedisClient, str, AuditLogProjector], Consume]
# What XREADGROUP answers: per stream, its entries as (id, fields).
StreamReply = list[tuple[str, list[tuple[str, dict[str | bytes, str | bytes]]]]] | None


def events_settings(stream: str) -> Settings:
    return bench_settings(
        postgres={"pool_max_size": 10},
        events={
            "stream": stream,
            "relay_batch_size": 100,
            "relay_poll_interval_seconds": 0.01,
            "batch_size": 100,
            "block_milliseconds": 100,
        },
    )


async def fill_outbox(pool: asyncpg.Pool, count: int) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("TRUNCATE event_outbox, user_audit_log")
        for _ in range(count):
            event = user_login_failed(
                LoginFailure.UNKNOWN_EMAIL,
                email="bench@example.com",
                user_id=uuid.uuid4(),
            )
            await insert_event(connection, event)


def baseline_consumer(redis: RedisClient, stream: str, projector: AuditLogProjector) -> Consume:
    """One message per round trip: read one, project it, acknowledge it."""

    async def consume() -> None:
        group = "baseline"
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
        while True:
            reply = cast(
                StreamReply,
                await redis.xreadgroup(group, "one", {stream: ">"}, count=1, block=100),
            )
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    await projector.project([decode_event(fields)])
                    await redis.xack(stream, group, entry_id)

    return consume


def batched_consumer(redis: RedisClient, stream: str, projector: AuditLogProjector) -> Consume:
    consumer = StreamConsumer(
        redis,
        stream_key=stream,
        handler=projector.project,
        options=ConsumerOptions(group="batched", consumer="many", batch_size=100),
    )
    return consumer.run


async def measure(name: str, make_consumer: MakeConsumer) -> float:
    settings = events_settings(f"events-{name}")
    pool = await create_pool(
        settings.postgres.dsn.get_secret_value(),
        min_size=2,
        max_size=10,
        command_timeout=30,
        connect_timeout=5,
    )
    redis = build_redis(settings)
    try:
        await fill_outbox(pool, EVENTS)
        projector = AuditLogProjector(AuditLogPgRepository(pool))
        relay = build_relay(settings, pool, redis)
        consume = make_consumer(redis, event_streams(settings).unpartitioned, projector)
        started = time.perf_counter()
        tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consume())]
        while await pool.fetchval("SELECT count(*) FROM user_audit_log") < EVENTS:  # noqa: ASYNC110 (the database is the finish line)
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        relay.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await pool.close()
        await redis.aclose()
    rate = EVENTS / elapsed
    print(f"  {name:<9} {EVENTS} events in {elapsed:6.2f} s: {rate:9.0f} events/s")
    return rate


async def main() -> None:
    configure_logging("WARNING", "console")
    settings = events_settings("events")
    await prepare_database(
        settings.postgres.dsn.get_secret_value(),
        connect_timeout=settings.postgres.connect_timeout_seconds,
        create=True,
    )
    try:
        print(f"outbox → relay → stream → consumer → user_audit_log ({EVENTS} events each)")
        baseline = await measure("baseline", baseline_consumer)
        batched = await measure("batched", batched_consumer)
        print(f"  ratio     {batched / baseline:.1f}x (batched / one message per round trip)")
    finally:
        await remove_run_data(settings)


if __name__ == "__main__":
    asyncio.run(main())
