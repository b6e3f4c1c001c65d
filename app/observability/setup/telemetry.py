"""One application's telemetry, built from its settings: tracing, metrics, ``/metrics``.

The composition root builds one :class:`Telemetry` before the clients, hands
its hooks to the PostgreSQL pool and the Redis clients, its registry to the
metrics of the adapters and use cases, adds the edge layers it asks for,
starts it with the server and shuts it down last, so the final spans are
exported (:func:`app.bootstrap.resources.open_resources`). Only the root,
the lifecycle and the entry points name it: the edge's telemetry layers are
told whether to trace and given the registry, the adapters and use cases see
only a registry or a port.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.config import Settings
from app.domain.ports import SessionMetrics
from app.domain.second_factor_ports import FactorMetrics
from app.observability.factor_metrics import NoFactorMetrics, PrometheusFactorMetrics
from app.observability.session_metrics import NoSessionMetrics, PrometheusSessionMetrics
from app.observability.setup.application_tracing import Tracing, start_tracing
from app.observability.setup.http_endpoint import MetricsEndpoint, Readiness
from app.observability.setup.metrics import (
    HashingCollector,
    HashingQueue,
    PoolCollector,
    QueryMetrics,
    new_registry,
)
from app.observability.setup.providers import otel_metrics_registry
from app.observability.setup.redis_metrics import RedisWireMetrics
from app.observability.throttle_metrics import ThrottleMetrics


class Telemetry:
    """Tracing (None when off) and the metrics registry and endpoint (None when off)."""

    def __init__(self, settings: Settings, span_exporter: SpanExporter | None = None) -> None:
        self.tracing: Tracing | None = start_tracing(settings.tracing, span_exporter)
        self.registry: CollectorRegistry | None = None
        self.endpoint: MetricsEndpoint | None = None
        self._queries: QueryMetrics | None = None
        self._wire: RedisWireMetrics | None = None
        self.sessions: SessionMetrics = NoSessionMetrics()
        self.factors: FactorMetrics = NoFactorMetrics()
        metrics = settings.metrics
        if metrics.enabled:
            self.registry = new_registry(otel_metrics_registry(settings.tracing.service_name))
            self._queries = QueryMetrics(self.registry)
            self._wire = RedisWireMetrics(self.registry)
            self.sessions = PrometheusSessionMetrics(self.registry)
            self.factors = PrometheusFactorMetrics(self.registry)
            self.endpoint = MetricsEndpoint(
                self.registry, host=settings.metrics_host, port=metrics.port
            )
        self.throttle = ThrottleMetrics(self.registry)

    @property
    def metrics_port(self) -> int | None:
        """The port ``/metrics`` listens on once started; None when metrics are off."""
        return None if self.endpoint is None else self.endpoint.port

    async def init_connection(self, connection: asyncpg.Connection) -> None:
        """The PostgreSQL pool's ``init`` hook: time every statement of ``connection``."""
        if self._queries is not None:
            await self._queries.attach(connection)

    def watch_pool(self, pool: asyncpg.Pool, waiting: Callable[[], int]) -> None:
        """Export the pool's size, connections in use and ``waiting()`` callers."""
        if self.registry is not None:
            self.registry.register(PoolCollector(pool, waiting))

    def watch_hashing(self, queue: HashingQueue) -> None:
        """Export the password hashing queue: in flight, capacity, refusals."""
        if self.registry is not None:
            self.registry.register(HashingCollector(queue))

    def instrument_redis(self, client: Redis | RedisCluster, name: str = "main") -> None:
        """Count the client's wire traffic and trace its commands, as configured.

        ``name`` tells the client's pool apart in the metrics (``client`` label).
        A cluster client's traffic is counted too, but it has no one pool to
        report the usage of (a node's connections come and go with the node).
        """
        if self._wire is not None:
            if isinstance(client, RedisCluster):
                self._wire.instrument_cluster(client)
            else:
                self._wire.instrument(client.connection_pool, name)
        if self.tracing is not None:
            self.tracing.instrument_redis(client)

    def report_readiness(self, readiness: Readiness) -> None:
        """Answer ``/readyz`` from ``readiness`` (ready once listening without it)."""
        if self.endpoint is not None:
            self.endpoint.readiness = readiness

    def start(self) -> None:
        """Serve ``/metrics``, ``/healthz``, ``/readyz``; ``OSError`` when the address is taken."""
        if self.endpoint is not None:
            self.endpoint.start()

    def shutdown(self) -> None:
        """Stop serving ``/metrics`` and export the spans still buffered."""
        if self.endpoint is not None:
            self.endpoint.stop()
        if self.tracing is not None:
            self.tracing.shutdown()
