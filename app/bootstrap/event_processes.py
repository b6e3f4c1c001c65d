"""The event processes: the outbox relay and the audit-log worker, each an ``EventsProcess``."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from app.adapters.postgres.audit_log import AuditLogPgRepository
from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.postgres.outbox import OutboxPgRepository
from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.partitioned_consumer import PartitionedConsumer
from app.adapters.redis.session_event_sweeper import SessionEventSweeper
from app.adapters.redis.session_events import SessionEventForwarder
from app.adapters.redis.session_keys import SessionKeys
from app.adapters.redis.stream_consumer import ConsumerOptions
from app.adapters.redis.stream_metrics import StreamMetrics
from app.adapters.redis.streams import EventStreams, RedisStreamPublisher
from app.bootstrap.resources import migrate_if_asked, open_resources_for
from app.config import Settings
from app.lifecycle import EventLoop, EventsProcess, Resources
from app.observability.outbox_metrics import MeasuredOutbox
from app.usecases.audit import AuditLogProjector
from app.usecases.relay import OutboxRelay, Pruning, Sweeping


def event_streams(settings: Settings) -> EventStreams:
    """The user events' streams: ``events.stream`` under the key prefix, or its partitions."""
    events = settings.events
    return EventStreams(settings.redis.key_prefix, events.stream, events.partitions)


def build_relay(
    settings: Settings,
    pool: BoundedPool,
    redis: RedisClient,
    metrics_registry: CollectorRegistry | None = None,
) -> OutboxRelay:
    """A relay; its backlog gauge on ``metrics_registry`` (one relay per registry)."""
    events = settings.events
    return OutboxRelay(
        MeasuredOutbox(OutboxPgRepository(pool), metrics_registry),
        RedisStreamPublisher(redis, streams=event_streams(settings), max_length=events.max_length),
        batch_size=events.relay_batch_size,
        poll_interval_seconds=events.relay_poll_interval_seconds,
        pruning=Pruning(
            retention_seconds=events.outbox_retention_seconds,
            interval_seconds=events.outbox_prune_interval_seconds,
            batch_size=events.outbox_prune_batch_size,
        ),
        sweeping=session_event_sweeping(settings, redis, metrics_registry),
    )


def session_event_sweeping(
    settings: Settings, redis: RedisClient, metrics_registry: CollectorRegistry | None = None
) -> Sweeping | None:
    """On a Redis Cluster, the sweep of session events left waiting (one Redis needs none)."""
    if not settings.redis.cluster:
        return None
    keys = SessionKeys(settings.redis.key_prefix, cluster=True, streams=event_streams(settings))
    forwarder = SessionEventForwarder(redis, keys, max_length=settings.events.max_length)
    return Sweeping(
        SessionEventSweeper(redis, keys, forwarder, metrics_registry),
        settings.events.sweep_interval_seconds,
    )


def consumer_options(settings: Settings) -> ConsumerOptions:
    """The consumer settings; the name defaults to ``<host>-<pid>`` (set it where stable)."""
    events = settings.events
    return ConsumerOptions(
        group=events.group,
        consumer=events.consumer_name or f"{socket.gethostname()}-{os.getpid()}",
        start_id=events.group_start_id,
        batch_size=events.batch_size,
        block_milliseconds=events.block_milliseconds,
        min_idle_milliseconds=events.min_idle_milliseconds,
        claim_interval_seconds=events.claim_interval_seconds,
        max_deliveries=events.max_deliveries,
        dead_letter_max_length=events.max_length,
    )


async def build_relay_process(settings: Settings) -> EventsProcess:
    """The outbox relay on its own (``make relay``)."""
    return await _events_process(
        settings,
        lambda resources: build_relay(
            settings, resources.pool, resources.redis, resources.telemetry.registry
        ),
    )


async def build_audit_worker(settings: Settings) -> EventsProcess:
    """The consumer that projects user events into ``user_audit_log`` (``make worker``)."""

    def consumer(resources: Resources) -> PartitionedConsumer:
        projector = AuditLogProjector(AuditLogPgRepository(resources.pool))
        return PartitionedConsumer(
            resources.redis,
            streams=event_streams(settings),
            handler=projector.project,
            options=consumer_options(settings),
            metrics=StreamMetrics(resources.telemetry.registry),
        )

    # Unbounded Redis: the consumer blocks in XREADGROUP longer than a call's bound.
    return await _events_process(settings, consumer, bounded_redis=False)


async def _events_process(
    settings: Settings, build_loop: Callable[[Resources], EventLoop], *, bounded_redis: bool = True
) -> EventsProcess:
    """An events process over its own resources (no hasher); it migrates first when asked."""
    await migrate_if_asked(settings)
    return await open_resources_for(
        settings,
        lambda resources, closing: EventsProcess(build_loop(resources), resources, closing),
        hashing=False,
        bounded_redis=bounded_redis,
    )
