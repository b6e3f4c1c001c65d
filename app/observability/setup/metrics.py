"""Prometheus metrics: one registry per application, served on ``/metrics``.

The registry holds the process metrics (CPU, memory, open file descriptors,
garbage collection) from prometheus-client's default registry, the PostgreSQL
pool and query metrics defined here, the gRPC server metrics and the Redis
wire counters (registered by their owners), and, bridged from OpenTelemetry,
redis-py's own client metrics. The
HTTP endpoint that serves them is :mod:`app.observability.setup.http_endpoint`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import asyncpg
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def new_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry for one application, with ``collectors`` already in it.

    It includes prometheus-client's default registry for the process metrics
    (CPU, memory, open file descriptors, GC) it holds; the application's own
    metrics are all registered on the registry returned, none on the default.
    """
    registry = CollectorRegistry(auto_describe=False)
    for collector in (REGISTRY, *collectors):
        registry.register(collector)
    return registry


class PoolCollector(Collector):
    """asyncpg pool gauges, read at scrape time: size, in use, idle, waiting, maximum.

    asyncpg counts no waiters, so ``waiting`` is the count kept by whoever
    wraps ``acquire`` (the callers waiting for a connection, or for it to open).
    """

    def __init__(self, pool: asyncpg.Pool, waiting: Callable[[], int]) -> None:
        self._pool = pool
        self._waiting = waiting

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        pool = self._pool
        size, idle = pool.get_size(), pool.get_idle_size()
        values = (size, max(size - idle, 0), idle, self._waiting(), pool.get_max_size())
        families = list(self._families())
        for family, value in zip(families, values, strict=True):
            family.add_metric([], value)
        return families

    @staticmethod
    def _families() -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily("pg_pool_size", "Connections open in the pool")
        yield GaugeMetricFamily("pg_pool_in_use", "Connections lent out to a caller")
        yield GaugeMetricFamily("pg_pool_idle", "Connections open and free")
        yield GaugeMetricFamily("pg_pool_waiting", "Callers waiting for a connection")
        yield GaugeMetricFamily("pg_pool_max_size", "The pool's maximum size")


class HashingQueue(Protocol):
    """What the password hasher tells about its queue."""

    capacity: int
    in_flight: int
    refused: int


class HashingCollector(Collector):
    """The password hashing queue, read at scrape time: in flight, capacity, refusals."""

    def __init__(self, queue: HashingQueue) -> None:
        self._queue = queue

    def describe(self) -> Iterable[Metric]:
        return self._families(0, 0, 0)

    def collect(self) -> Iterable[Metric]:
        queue = self._queue
        return self._families(queue.in_flight, queue.capacity, queue.refused)

    @staticmethod
    def _families(in_flight: int, capacity: int, refused: int) -> list[Metric]:
        return [
            GaugeMetricFamily(
                "password_hashing_in_flight",
                "Password hashes running or waiting for a thread",
                value=in_flight,
            ),
            GaugeMetricFamily(
                "password_hashing_capacity",
                "Hashes that may run or wait at once; past it calls are refused",
                value=capacity,
            ),
            CounterMetricFamily(
                "password_hashing_refused",
                "Calls refused with RESOURCE_EXHAUSTED because the hashing queue was full",
                value=refused,
            ),
        ]


class QueryMetrics:
    """PostgreSQL statement latency by operation, fed by asyncpg's query logger."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._duration = Histogram(
            "pg_query_duration_seconds",
            "PostgreSQL statement round trip, by operation and outcome",
            ["operation", "outcome"],
            buckets=QUERY_BUCKETS,
            registry=registry,
        )

    async def attach(self, connection: asyncpg.Connection) -> None:
        """Pool ``init`` hook: log every query of ``connection`` into the histogram."""
        connection.add_query_logger(self._record)

    def _record(self, query: Any) -> None:
        words = str(query.query).split(maxsplit=1)
        operation = words[0].upper() if words else "OTHER"
        if operation not in _OPERATIONS:
            operation = "OTHER"
        outcome = "ok" if query.exception is None else "error"
        self._duration.labels(operation, outcome).observe(query.elapsed)


_OPERATIONS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT"})
