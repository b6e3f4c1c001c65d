"""The composition root: the only module that names concrete classes.

``build_application`` turns a :class:`~app.config.Settings` into a running
set of pools, adapters, use cases and the gRPC server. ``main`` and the tests
both go through it, so what is tested is what is served.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field
from typing import Protocol

import grpc
import structlog
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from app.adapters.passwords import Argon2PasswordHasher
from app.adapters.postgres.audit_log import AuditLogPgRepository
from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.postgres.database import apply_migrations, create_pool, ensure_database
from app.adapters.postgres.outbox import OutboxPgRepository
from app.adapters.postgres.users import UserPgRepository
from app.adapters.redis.bounded_client import BoundedRedis
from app.adapters.redis.login_throttle import LoginBackoff, RedisLoginThrottle
from app.adapters.redis.sessions import SessionRedisRepository
from app.adapters.redis.stream_consumer import ConsumerOptions, StreamConsumer
from app.adapters.redis.stream_metrics import StreamMetrics
from app.adapters.redis.streams import RedisStreamPublisher, stream_key
from app.adapters.redis.user_cache import UserRedisCache
from app.adapters.store_states import StoreStates
from app.config import Settings, server_address
from app.domain.errors import Store
from app.domain.throttling import LimitedAction
from app.grpc.health import HealthReporter
from app.grpc.interceptors import (
    EdgeLayer,
    ErrorInterceptor,
    LoggingInterceptor,
    MalformedRequestInterceptor,
)
from app.grpc.limits import ConcurrencyLimitInterceptor, ReceiveTimeoutInterceptor, limit_metrics
from app.grpc.server import build_server
from app.grpc.servicer import UserServiceServicer
from app.grpc.store_calls import StoreCallInterceptor
from app.grpc.telemetry_interceptors import telemetry_interceptors
from app.observability.metrics import ThrottleMetrics
from app.observability.otel import untraced
from app.observability.outbox_metrics import MeasuredOutbox
from app.observability.telemetry import Telemetry
from app.usecases.accounts import AccountUseCase
from app.usecases.audit import AuditLogProjector
from app.usecases.ports import StoreAvailability
from app.usecases.relay import OutboxRelay, Pruning
from app.usecases.sessions import SessionUseCase
from app.usecases.users import UserUseCase

logger = structlog.get_logger(__name__)


@dataclass
class Application:
    """Everything the process owns, in the order it must be closed."""

    settings: Settings
    server: grpc.aio.Server
    port: int
    health: HealthReporter
    pool: BoundedPool
    redis: Redis
    cache_redis: Redis
    passwords: Argon2PasswordHasher
    users: UserUseCase
    sessions: SessionUseCase
    accounts: AccountUseCase
    telemetry: Telemetry
    relay: OutboxRelay | None = None
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _relay_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.telemetry.start()
        await self.health.start()
        await self.server.start()
        if self.relay is not None:
            self._relay_task = asyncio.create_task(self.relay.run(), name="outbox-relay")
        logger.info("serving", port=self.port, metrics_port=self.metrics_port)

    @property
    def metrics_port(self) -> int | None:
        """Where ``/metrics`` is served (None when metrics are off)."""
        return self.telemetry.metrics_port

    async def stop(self, grace: float | None = None, drain: float | None = None) -> None:
        """Drain, stop accepting, let in-flight calls finish within ``grace``, close the pools.

        Health turns NOT_SERVING first and the server keeps serving for ``drain``
        seconds (``grpc.drain_seconds``), so balancers move traffic away before
        the port closes. Calls gRPC has received but not yet handed to the
        service when the server stops are cancelled by gRPC core whatever the
        grace; the drain lets those be picked up and served.
        """
        if self._stopped.is_set():
            return
        self._stopped.set()
        grpc_settings = self.settings.grpc
        grace = grpc_settings.grace_period_seconds if grace is None else grace
        drain = grpc_settings.drain_seconds if drain is None else drain
        logger.info("shutting down", drain_seconds=drain, grace_seconds=grace)
        await self.health.shutdown()
        if drain > 0:
            await asyncio.sleep(drain)
        await self.server.stop(grace)
        if self.relay is not None and self._relay_task is not None:
            self.relay.stop()
            await self._relay_task
        await self.pool.close()
        await self.redis.aclose()
        if self.cache_redis is not self.redis:
            await self.cache_redis.aclose()
        self.passwords.close()
        logger.info("stopped")
        self.telemetry.shutdown()


def build_redis(
    settings: Settings, url: str | None = None, *, states: StoreStates | None = None
) -> Redis:
    """A Redis client whose pool waits for a free connection instead of failing.

    With ``states``, every command is bounded by ``redis.call_timeout_seconds``
    and the caller's deadline, and reports whether Redis answers (the
    service's client). Without, commands are bounded by the socket timeout
    only, which blocking reads (a consumer's ``XREADGROUP BLOCK``) need.

    A connection idle for ``health_check_interval_seconds`` is PINGed (and
    reconnected) before use, so the connections left from before a Redis
    restart do not fail calls after it. A command whose connection broke is
    sent once more on a new connection: it may then run twice, which every
    command of this service tolerates (sessions and the cache are overwritten;
    an event appended twice keeps its ``event_id``, and consumers deduplicate
    on it). A timed-out command is not retried: the bound is spent.
    """
    redis_settings = settings.redis
    pool = BlockingConnectionPool.from_url(
        url or redis_settings.url.get_secret_value(),
        max_connections=redis_settings.max_connections,
        timeout=redis_settings.socket_timeout_seconds,
        socket_timeout=redis_settings.socket_timeout_seconds,
        socket_connect_timeout=redis_settings.socket_timeout_seconds,
        health_check_interval=redis_settings.health_check_interval_seconds,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    if states is None:
        return Redis(connection_pool=pool)
    return BoundedRedis(
        connection_pool=pool, call_timeout=redis_settings.call_timeout_seconds, states=states
    )


async def prepare_database(settings: Settings) -> None:
    """Create the database if it is missing and apply pending migrations."""
    dsn = settings.postgres.dsn.get_secret_value()
    await ensure_database(dsn, connect_timeout=settings.postgres.connect_timeout_seconds)
    await apply_migrations(dsn)


async def build_clients(
    settings: Settings, telemetry: Telemetry, states: StoreStates, *, bounded_redis: bool = True
) -> tuple[BoundedPool, Redis]:
    """The migrated database's pool and the main Redis client, both instrumented.

    Both report to ``states`` whether their store answers; the pool always
    bounds its calls, the Redis client unless ``bounded_redis`` is False.
    """
    if settings.postgres.migrate_on_start:
        await prepare_database(settings)
    postgres = settings.postgres
    pool = await create_pool(
        postgres.dsn.get_secret_value(),
        min_size=postgres.pool_min_size,
        max_size=postgres.pool_max_size,
        command_timeout=postgres.command_timeout_seconds,
        connect_timeout=postgres.connect_timeout_seconds,
        init=telemetry.init_connection,
    )
    bounded = BoundedPool(pool, call_timeout=postgres.call_timeout_seconds, states=states)
    telemetry.watch_pool(pool, waiting=lambda: bounded.waiting)
    redis = build_redis(settings, states=states if bounded_redis else None)
    telemetry.instrument_redis(redis)
    return bounded, redis


async def build_application(
    settings: Settings,
    *,
    span_exporter: SpanExporter | None = None,
    passwords: Argon2PasswordHasher | None = None,
) -> Application:
    """Build (but do not start) the whole service from ``settings``.

    ``span_exporter`` replaces the OTLP exporter when tracing is on (tests);
    ``passwords`` replaces the hasher built from ``settings.passwords`` (tests
    that count or slow down hashing).
    """
    telemetry = Telemetry(settings, span_exporter)
    states = StoreStates(open_seconds=settings.health.fail_fast_seconds)
    pool, redis = await build_clients(settings, telemetry, states)
    cache_redis = build_cache_redis(settings, redis, telemetry)
    passwords = passwords or build_password_hasher(settings)
    telemetry.watch_hashing(passwords)
    use_cases = build_use_cases(
        settings, pool, redis, cache_redis, passwords, telemetry, stores=states
    )
    users, sessions = use_cases.users, use_cases.sessions
    probed_stores = {
        f"postgresql at {server_address(settings.postgres.dsn, 5432)}": Store.POSTGRESQL,
        f"redis at {server_address(settings.redis.url, 6379)}": Store.REDIS,
    }
    probes = {
        Store.POSTGRESQL: untraced(lambda: pool.fetchval("SELECT 1")),
        Store.REDIS: untraced(redis.ping),
    }
    health = HealthReporter(
        [(name, probes[store]) for name, store in probed_stores.items()],
        interval=settings.health.check_interval_seconds,
        timeout=settings.health.check_timeout_seconds,
        observe=lambda name, answered: states.observed(probed_stores[name], answered),
    )
    servicer = UserServiceServicer(
        users,
        sessions,
        use_cases.accounts,
        password_min_length=settings.passwords.min_length,
        password_max_length=settings.passwords.max_length,
        trusted_proxies=settings.grpc.trusted_proxies,
    )
    server, port = build_server(
        settings.grpc,
        servicer,
        health,
        interceptors=edge_interceptors(settings, telemetry),
    )
    return Application(
        settings=settings,
        server=server,
        port=port,
        health=health,
        pool=pool,
        redis=redis,
        cache_redis=cache_redis,
        passwords=passwords,
        users=users,
        sessions=sessions,
        accounts=use_cases.accounts,
        telemetry=telemetry,
        relay=(
            build_relay(settings, pool, redis, telemetry.registry)
            if settings.events.relay_enabled
            else None
        ),
    )


def edge_interceptors(settings: Settings, telemetry: Telemetry) -> list[EdgeLayer]:
    """The edge's layers, outermost first (each wraps every method once, at start-up).

    The receive timeout goes first: it serves each unary method as a
    stream-unary one, which the others need not know. The concurrency limit
    goes inside logging and metrics, so refusals are logged and counted; the
    check for undecodable requests stays innermost.
    """
    grpc_settings = settings.grpc
    metrics = limit_metrics(telemetry.registry)
    return [
        ReceiveTimeoutInterceptor(grpc_settings.receive_timeout_seconds, metrics),
        *telemetry_interceptors(telemetry),
        LoggingInterceptor(),
        ConcurrencyLimitInterceptor(
            grpc_settings.method_concurrency, grpc_settings.method_concurrency_default, metrics
        ),
        ErrorInterceptor(),
        StoreCallInterceptor(),
        MalformedRequestInterceptor(),
    ]


def build_cache_redis(settings: Settings, redis: Redis, telemetry: Telemetry) -> Redis:
    """The user cache's Redis: its own when ``cache.redis_url`` is set, else ``redis``."""
    cache_url = settings.cache.redis_url
    if cache_url is None:
        return redis
    # Its own states: a cache failure is bypassed (FindByID reads PostgreSQL),
    # so it must not make other calls fail fast.
    cache_redis = build_redis(
        settings, cache_url.get_secret_value(), states=StoreStates(open_seconds=0)
    )
    telemetry.instrument_redis(cache_redis, "cache")
    return cache_redis


def build_password_hasher(settings: Settings) -> Argon2PasswordHasher:
    configured = settings.passwords
    return Argon2PasswordHasher(
        memory_cost_kib=configured.memory_cost_kib,
        time_cost=configured.time_cost,
        parallelism=configured.parallelism,
        max_workers=configured.worker_count(),
        max_waiting=configured.max_waiting,
    )


@dataclass(frozen=True)
class UseCases:
    users: UserUseCase
    sessions: SessionUseCase
    accounts: AccountUseCase


def build_use_cases(
    settings: Settings,
    pool: BoundedPool,
    redis: Redis,
    cache_redis: Redis,
    passwords: Argon2PasswordHasher,
    telemetry: Telemetry,
    *,
    stores: StoreAvailability,
) -> UseCases:
    """The use cases over the given clients (the service's, or the admin command's)."""
    prefix = settings.redis.key_prefix
    session_settings = settings.sessions
    session_store = SessionRedisRepository(
        redis,
        key_prefix=prefix,
        ttl_seconds=session_settings.ttl_seconds,
        absolute_lifetime_seconds=session_settings.absolute_lifetime_seconds,
        max_per_user=session_settings.max_per_user,
        user_refresh_seconds=session_settings.user_refresh_seconds,
        stream_key=events_stream_key(settings),
        stream_max_length=settings.events.max_length,
    )
    user_repository = UserPgRepository(pool)
    cache = UserRedisCache(
        cache_redis, key_prefix=prefix, ttl_seconds=settings.cache.user_ttl_seconds
    )
    throttle = build_throttle(settings, redis, telemetry)
    metrics = telemetry.sessions
    return UseCases(
        users=UserUseCase(
            users=user_repository,
            cache=cache,
            sessions=session_store,
            passwords=passwords,
            outbox=OutboxPgRepository(pool),
            throttle=throttle,
            metrics=metrics,
            password_max_length=settings.passwords.max_length,
            stores=stores,
        ),
        sessions=SessionUseCase(session_store, user_repository, metrics),
        accounts=AccountUseCase(
            users=user_repository,
            cache=cache,
            sessions=session_store,
            passwords=passwords,
            throttle=throttle,
            metrics=metrics,
            password_max_length=settings.passwords.max_length,
        ),
    )


def build_throttle(settings: Settings, redis: Redis, telemetry: Telemetry) -> RedisLoginThrottle:
    throttling = settings.throttling
    return RedisLoginThrottle(
        redis,
        key_prefix=settings.redis.key_prefix,
        backoff=LoginBackoff(
            account_free_failures=throttling.account_free_failures,
            address_free_failures=throttling.address_free_failures,
            first_wait_seconds=throttling.first_wait_seconds,
            max_wait_seconds=throttling.max_wait_seconds,
            forget_after_seconds=throttling.forget_after_seconds,
            known_address_seconds=throttling.known_address_seconds,
        ),
        actions_per_minute={
            LimitedAction.REGISTER: throttling.register_per_address_per_minute,
            LimitedAction.CHANGE_PASSWORD: throttling.change_password_per_address_per_minute,
        },
        metrics=ThrottleMetrics(telemetry.registry),
    )


def events_stream_key(settings: Settings) -> str:
    """The Redis key of the user events stream (under the service's key prefix)."""
    return stream_key(settings.redis.key_prefix, settings.events.stream)


def build_relay(
    settings: Settings,
    pool: BoundedPool,
    redis: Redis,
    metrics_registry: CollectorRegistry | None = None,
) -> OutboxRelay:
    """A relay; its backlog gauge on ``metrics_registry`` (one relay per registry)."""
    events = settings.events
    return OutboxRelay(
        MeasuredOutbox(OutboxPgRepository(pool), metrics_registry),
        RedisStreamPublisher(
            redis, stream_key=events_stream_key(settings), max_length=events.max_length
        ),
        batch_size=events.relay_batch_size,
        poll_interval_seconds=events.relay_poll_interval_seconds,
        pruning=Pruning(
            retention_seconds=events.outbox_retention_seconds,
            interval_seconds=events.outbox_prune_interval_seconds,
            batch_size=events.outbox_prune_batch_size,
        ),
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


class EventLoop(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class EventsProcess:
    """A process running one events loop (the relay, or a consumer) until stopped."""

    loop: EventLoop
    pool: BoundedPool
    redis: Redis
    telemetry: Telemetry

    async def run(self) -> None:
        """Run the loop until :meth:`stop`, then close the clients."""
        self.telemetry.start()
        logger.info("events process started", metrics_port=self.telemetry.metrics_port)
        try:
            await self.loop.run()
        finally:
            await self.pool.close()
            await self.redis.aclose()
            self.telemetry.shutdown()

    def stop(self) -> None:
        self.loop.stop()


async def build_relay_process(settings: Settings) -> EventsProcess:
    """The outbox relay on its own (``make relay``)."""
    telemetry = Telemetry(settings)
    states = StoreStates(open_seconds=settings.health.fail_fast_seconds)
    pool, redis = await build_clients(settings, telemetry, states)
    relay = build_relay(settings, pool, redis, telemetry.registry)
    return EventsProcess(relay, pool, redis, telemetry)


async def build_audit_worker(settings: Settings) -> EventsProcess:
    """The consumer that projects user events into ``user_audit_log`` (``make worker``)."""
    telemetry = Telemetry(settings)
    states = StoreStates(open_seconds=settings.health.fail_fast_seconds)
    # Unbounded Redis: the consumer blocks in XREADGROUP longer than a call's bound.
    pool, redis = await build_clients(settings, telemetry, states, bounded_redis=False)
    projector = AuditLogProjector(AuditLogPgRepository(pool))
    consumer = StreamConsumer(
        redis,
        stream_key=events_stream_key(settings),
        handler=projector.project,
        options=consumer_options(settings),
        metrics=StreamMetrics(telemetry.registry),
    )
    return EventsProcess(consumer, pool, redis, telemetry)
