"""Events through the death of a Redis Cluster master: what is lost, what twice, how long.

    python bench/bench_event_failover.py        # make bench runs it

A throwaway Redis Cluster (three masters, one replica each, node timeout 2 s:
``tests/support/redis_cluster.py``) and the run's own database. The outbox
relay and a partitioned audit-log worker (``PARTITIONS`` streams) run on one
cluster client while a producer writes ``RATE`` events a second into the
outbox for ``LOAD_SECONDS``, the events of ``USERS`` users. Twice, in the same
run: once undisturbed (the baseline), once with the master of partition 0
killed (SIGKILL) after ``KILL_AFTER`` seconds, its replica promoted by the
cluster. Each run then waits until the outbox is published and the audit log
stops growing.

Printed per run: events written, published, projected; lost (published, never
projected: acknowledged by a master that died before its replica had them);
handled more than once; the slowest event (outbox to audit log); and, for the
kill, the time from the kill to the first event written after it reaching the
audit log, in a partition of the killed master and in the others.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import bench_settings

from app.adapters.postgres.audit_log import AuditLogPgRepository
from app.adapters.postgres.database import create_pool, prepare_database
from app.adapters.postgres.outbox import insert_event
from app.adapters.redis.partitioned_consumer import PartitionedConsumer
from app.adapters.redis.stream_consumer import Handler
from app.adapters.redis.streams import EventStreams
from app.adapters.store_states import StoreStates
from app.bootstrap import build_redis, build_relay, consumer_options, event_streams
from app.config import Settings
from app.domain.events import Event, LoginFailure, user_login_failed
from app.observability.setup.logging import configure_logging
from app.usecases.audit import AuditLogProjector
from tests.support.databases import drop_database
from tests.support.redis_cluster import ThrowawayRedisCluster

PARTITIONS = int(os.environ.get("BENCH_FAILOVER_PARTITIONS", "6"))
RATE = int(os.environ.get("BENCH_FAILOVER_RATE", "200"))
LOAD_SECONDS = float(os.environ.get("BENCH_FAILOVER_SECONDS", "12"))
KILL_AFTER = float(os.environ.get("BENCH_FAILOVER_KILL_AFTER", "4"))
USERS = 100
SETTLE_SECONDS = 3.0
DRAIN_TIMEOUT_SECONDS = 60.0
FAIL_FAST_SECONDS = 1.0
LATE_SECONDS = 1.0
UNPUBLISHED = "SELECT count(*) FROM event_outbox WHERE published_at IS NULL"


def failover_settings(cluster_url: str) -> Settings:
    """The run's stores, the cluster in cluster mode, events partitioned; defaults else."""
    return bench_settings(
        redis={"url": cluster_url, "cluster": True},
        events={
            "partitions": PARTITIONS,
            "relay_batch_size": 100,
            "relay_poll_interval_seconds": 0.02,
            "batch_size": 100,
            "block_milliseconds": 200,
            "min_idle_milliseconds": 2000,
            "claim_interval_seconds": 0.5,
            "consumer_name": "failover-worker",
        },
    )


@dataclass
class Ledger:
    """When each event was written to the outbox, and each time it was projected."""

    written: dict[uuid.UUID, float] = field(default_factory=dict)
    stream_of: dict[uuid.UUID, str] = field(default_factory=dict)
    handled: dict[uuid.UUID, list[float]] = field(default_factory=lambda: defaultdict(list))

    def noting(self, projector: AuditLogProjector) -> Handler:
        """A handler that projects and notes when it projected what."""

        async def project(events: Sequence[Event]) -> None:
            await projector.project(events)
            now = time.monotonic()
            for event in events:
                self.handled[event.id].append(now)

        return project

    def first_after(self, moment: float, ids: set[uuid.UUID]) -> float | None:
        """Seconds from ``moment`` to the first projection of one of ``ids`` written after it."""
        times = [
            min(self.handled[event_id])
            for event_id in ids
            if self.written[event_id] > moment and self.handled.get(event_id)
        ]
        return min(times) - moment if times else None

    def delays(self, ids: set[uuid.UUID]) -> list[float]:
        """Seconds from writing to first projection of each of ``ids`` that was projected."""
        return [
            min(self.handled[event_id]) - self.written[event_id]
            for event_id in ids
            if self.handled.get(event_id)
        ]


async def produce(pool: asyncpg.Pool, ledger: Ledger, streams: EventStreams) -> None:
    """``RATE`` events a second into the outbox for ``LOAD_SECONDS``, users in turn."""
    users, started = [uuid.uuid4() for _ in range(USERS)], time.monotonic()
    for index in range(int(RATE * LOAD_SECONDS)):
        await asyncio.sleep(max(0.0, started + index / RATE - time.monotonic()))
        event = user_login_failed(
            LoginFailure.WRONG_PASSWORD, email="failover@example.com", user_id=users[index % USERS]
        )
        await insert_event(pool, event)
        ledger.written[event.id] = time.monotonic()
        ledger.stream_of[event.id] = streams.key_for(event)


async def settle(pool: asyncpg.Pool, written: int) -> None:
    """Wait until the outbox is published and the audit log has stopped growing (bounded)."""
    deadline, last, quiet_since = time.monotonic() + DRAIN_TIMEOUT_SECONDS, -1, time.monotonic()
    while time.monotonic() < deadline:
        waiting = await pool.fetchval(
            "SELECT count(*) FROM event_outbox WHERE published_at IS NULL"
        )
        projected = await pool.fetchval("SELECT count(*) FROM user_audit_log")
        if projected != last:
            last, quiet_since = projected, time.monotonic()
        if waiting == 0 and (
            projected >= written or time.monotonic() - quiet_since > SETTLE_SECONDS
        ):
            return
        await asyncio.sleep(0.1)


@dataclass
class Outcome:
    written: int
    published: int
    projected: int
    lost: int
    twice: int
    slowest: float
    recovery: dict[str, tuple[float | None, list[float]]]


async def run_once(
    cluster: ThrowawayRedisCluster, pool: asyncpg.Pool, settings: Settings, *, kill: bool
) -> Outcome:
    """One run of the pipeline under load; with ``kill``, partition 0's master dies midway."""
    await pool.execute("TRUNCATE event_outbox, user_audit_log")
    ledger, streams = Ledger(), event_streams(settings)
    # As the processes build them: the relay's client bounded, the worker's not (it blocks).
    relay_redis = build_redis(settings, states=StoreStates(open_seconds=FAIL_FAST_SECONDS))
    worker_redis = build_redis(settings)
    relay = build_relay(settings, pool, relay_redis)
    worker = PartitionedConsumer(
        worker_redis,
        streams=streams,
        handler=ledger.noting(AuditLogProjector(AuditLogPgRepository(pool))),
        options=consumer_options(settings),
    )
    loops = [asyncio.create_task(relay.run()), asyncio.create_task(worker.run())]
    victim = cluster.master_of(streams.keys[0])
    hit = {key for key in streams.keys if cluster.master_of(key).port == victim.port}
    producing = asyncio.create_task(produce(pool, ledger, streams))
    await asyncio.sleep(KILL_AFTER)
    killed_at = time.monotonic()
    if kill:
        victim.kill()
    await producing
    await settle(pool, len(ledger.written))
    relay.stop()
    worker.stop()
    await asyncio.gather(*loops, return_exceptions=True)
    await relay_redis.aclose()
    await worker_redis.aclose()
    return await outcome(pool, ledger, hit, killed_at)


async def outcome(pool: asyncpg.Pool, ledger: Ledger, hit: set[str], moment: float) -> Outcome:
    """The run's counts from the outbox, the audit log and the ledger."""
    published = {
        row["event_id"]
        for row in await pool.fetch(
            "SELECT event_id FROM event_outbox WHERE published_at IS NOT NULL"
        )
    }
    projected = {row["event_id"] for row in await pool.fetch("SELECT event_id FROM user_audit_log")}
    in_hit = {event_id for event_id, key in ledger.stream_of.items() if key in hit}
    delays = [min(times) - ledger.written[event_id] for event_id, times in ledger.handled.items()]
    return Outcome(
        written=len(ledger.written),
        published=len(published),
        projected=len(projected),
        lost=len(published - projected),
        twice=sum(len(times) > 1 for times in ledger.handled.values()),
        slowest=max(delays, default=0.0),
        recovery={
            where: (ledger.first_after(moment, ids), ledger.delays(ids))
            for where, ids in (
                ("killed master's partitions", in_hit),
                ("other partitions", set(ledger.written) - in_hit),
            )
        },
    )


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def report(name: str, result: Outcome) -> None:
    print(
        f"  {name:<9} written {result.written}, published {result.published},"
        f" projected {result.projected}, lost {result.lost}, handled twice {result.twice},"
        f" slowest {result.slowest:.2f} s"
    )
    for where, (first, delays) in result.recovery.items():
        late = sum(delay > LATE_SECONDS for delay in delays)
        print(
            f"            {where}: first event written after the kill projected"
            f" {seconds(first)} after it; {late} of {len(delays)} events later than"
            f" {LATE_SECONDS:.0f} s, the slowest {seconds(max(delays, default=None))}"
        )


async def main() -> None:
    configure_logging("CRITICAL", "console")
    print(
        f"events on a Redis Cluster (3 masters + 3 replicas), {PARTITIONS} partitions,"
        f" {RATE} events/s for {LOAD_SECONDS:.0f} s; kill at {KILL_AFTER:.0f} s"
    )
    async with ThrowawayRedisCluster() as cluster:
        settings = failover_settings(cluster.url)
        dsn = settings.postgres.dsn.get_secret_value()
        await prepare_database(
            dsn, connect_timeout=settings.postgres.connect_timeout_seconds, create=True
        )
        pool = await create_pool(
            dsn, min_size=2, max_size=10, command_timeout=30, connect_timeout=5
        )
        try:
            report("baseline", await run_once(cluster, pool, settings, kill=False))
            report("kill", await run_once(cluster, pool, settings, kill=True))
        finally:
            await pool.close()
            await drop_database(dsn)  # the cluster and its keys go with it


if __name__ == "__main__":
    asyncio.run(main())
