"""The stores' clients and the password hasher, built from the settings and instrumented."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from app.adapters.passwords import Argon2PasswordHasher
from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.postgres.database import create_pool
from app.adapters.redis.bounded_client import BoundedRedis, BoundedRedisCluster, RedisClient
from app.adapters.store_states import StoreStates
from app.config import Settings
from app.observability.setup.telemetry import Telemetry

# Tries of a cluster command (redis-py refreshes its slot map between them):
# enough to ride out a promotion's MOVED and connection errors, all inside one bound.
CLUSTER_RETRIES = 3


def build_redis(
    settings: Settings, url: str | None = None, *, states: StoreStates | None = None
) -> RedisClient:
    """A Redis client whose pool waits for a free connection instead of failing.

    With ``redis.cluster``, a Redis Cluster client instead (:func:`build_redis_cluster`).

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
    if redis_settings.cluster:
        return build_redis_cluster(settings, url, states=states)
    pool = BlockingConnectionPool.from_url(
        url or redis_settings.url.get_secret_value(),
        max_connections=redis_settings.max_connections,
        timeout=redis_settings.socket_timeout_seconds,
        socket_timeout=redis_settings.socket_timeout_seconds,
        socket_connect_timeout=redis_settings.socket_timeout_seconds,
        health_check_interval=redis_settings.health_check_interval_seconds,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return BoundedRedis(
        connection_pool=pool, call_timeout=redis_settings.call_timeout_seconds, states=states
    )


def build_redis_cluster(
    settings: Settings, url: str | None = None, *, states: StoreStates | None = None
) -> RedisCluster:
    """A Redis Cluster client, started from ``url``'s node and ``redis.cluster_seeds``.

    Bounded as :func:`build_redis`'s client is. Each node's connections are
    capped at ``max_connections`` (past it a command fails as unavailable;
    redis-py's cluster pools do not wait). A command that meets a broken
    connection, a node down or a cluster failing over is retried by redis-py
    on a refreshed slot map, within the same bound: after a promotion calls
    answer again without a restart.
    """
    redis_settings = settings.redis
    options = {
        "startup_nodes": [_cluster_node(seed) for seed in redis_settings.cluster_seeds],
        "max_connections": redis_settings.max_connections,
        "socket_timeout": redis_settings.socket_timeout_seconds,
        "socket_connect_timeout": redis_settings.socket_timeout_seconds,
        "health_check_interval": redis_settings.health_check_interval_seconds,
        "retry": Retry(NoBackoff(), CLUSTER_RETRIES),
        # On MOVED, patch the slot map from the reply: redis-py's periodic full
        # refresh (every 5th MOVED) closes every connection, those of calls in
        # flight too, whose scripts may have run and are then sent again.
        "reinitialize_steps": 0,
    }
    address = url or redis_settings.url.get_secret_value()
    return BoundedRedisCluster.from_url(
        address, call_timeout=redis_settings.call_timeout_seconds, states=states, **options
    )


def _cluster_node(seed: str) -> ClusterNode:
    host, _, port = seed.rpartition(":")
    return ClusterNode(host, int(port))


async def build_pool(settings: Settings, telemetry: Telemetry, states: StoreStates) -> BoundedPool:
    """The PostgreSQL pool, instrumented; it reports to ``states`` whether PostgreSQL answers."""
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
    return bounded


def build_cache_redis(settings: Settings, redis: RedisClient, telemetry: Telemetry) -> RedisClient:
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
        max_waiting_per_client=configured.max_waiting_per_client,
        checks_per_new_hash=configured.checks_per_new_hash,
    )
