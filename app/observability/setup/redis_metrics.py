"""What redis-py's own metrics lack: commands sent, replies read, bytes each way.

redis-py 8 reports, through OpenTelemetry, each command's round-trip latency
(``db.client.operation.duration``), errors by kind (``redis.client.errors``),
connections created (``db.client.connection.create_time``) and closed
(``redis.client.connection.closed``). It has no count of what goes over the
wire, so the connection class is swapped for a subclass that counts it: a
client's pool's, or, for a Redis Cluster client, the class in its connection
settings (``get_connection_kwargs``), from which it makes each node it finds,
now or after a failover. A single node's connections-in-use gauge drifts
with a blocking pool, so its pool's usage is read from the pool
(``get_connection_count``) at scrape time; a cluster's nodes have no such
pool, and report no usage.
Commands are named as they are packed (one by one in pipelines too) and
counted as sent once their bytes are, so each reply read is matched to its
command.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection, ConnectionPool
from redis.exceptions import ResponseError
from redis.observability.attributes import DB_CLIENT_CONNECTION_STATE, ConnectionState

UNNAMED = "OTHER"


class RedisWireMetrics(Collector):
    """Counters of what an application's Redis clients write and read; their pools' usage."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._pools: list[tuple[str, ConnectionPool]] = []
        self.commands_sent = Counter(
            "redis_client_commands_sent",
            "Commands written to Redis, by command",
            ["command"],
            registry=registry,
        )
        self.replies_read = Counter(
            "redis_client_replies_read",
            "Replies read from Redis (error replies included), by command",
            ["command"],
            registry=registry,
        )
        self.bytes_written = Counter(
            "redis_client_bytes_written", "Bytes written to Redis", registry=registry
        )
        self.bytes_read = Counter(
            "redis_client_bytes_read", "Bytes read from Redis", registry=registry
        )
        # Each command's series, bound on its first use: a ``labels()`` lookup
        # costs several times the increment it leads to.
        self._sent_by_command: dict[str, Any] = {}
        self._read_by_command: dict[str, Any] = {}
        registry.register(self)

    def sent(self, command: str) -> Any:
        """The ``redis_client_commands_sent`` series of ``command``."""
        series = self._sent_by_command.get(command)
        if series is None:
            series = self._sent_by_command[command] = self.commands_sent.labels(command)
        return series

    def read(self, command: str) -> Any:
        """The ``redis_client_replies_read`` series of ``command``."""
        series = self._read_by_command.get(command)
        if series is None:
            series = self._read_by_command[command] = self.replies_read.labels(command)
        return series

    def instrument(self, pool: ConnectionPool, client: str) -> None:
        """Count the traffic of the connections ``pool`` opens from now on, and its usage."""
        pool.connection_class = metered_connection_class(pool.connection_class, self)
        self._pools.append((client, pool))

    def instrument_cluster(self, cluster: RedisCluster) -> None:
        """Count the traffic of the connections ``cluster`` opens from now on, to any node."""
        settings = cluster.get_connection_kwargs()
        made_with = cast(type[AbstractConnection], settings["connection_class"])
        settings["connection_class"] = metered_connection_class(made_with, self)
        for node in cluster.get_nodes():
            metered = metered_connection_class(node.connection_class, self)
            node.connection_class = cast(type[Connection], metered)

    def describe(self) -> Iterable[Metric]:
        return list(_pool_families())

    def collect(self) -> Iterable[Metric]:
        in_use, idle, maximum = families = list(_pool_families())
        for client, pool in self._pools:
            # The pool's own count, read now: redis-py's OpenTelemetry gauge of used
            # and idle connections drifts with a BlockingConnectionPool.
            counts = {
                attributes.get(DB_CLIENT_CONNECTION_STATE): count
                for count, attributes in pool.get_connection_count()
            }
            in_use.add_metric([client], counts.get(ConnectionState.USED.value, 0))
            idle.add_metric([client], counts.get(ConnectionState.IDLE.value, 0))
            maximum.add_metric([client], pool.max_connections)
        return families


def _pool_families() -> tuple[GaugeMetricFamily, ...]:
    labels = ["client"]
    return (
        GaugeMetricFamily("redis_pool_connections_in_use", "Connections lent out", labels=labels),
        GaugeMetricFamily(
            "redis_pool_connections_idle", "Connections open and free", labels=labels
        ),
        GaugeMetricFamily("redis_pool_max_connections", "The pool's maximum size", labels=labels),
    )


def metered_connection_class(
    base: type[AbstractConnection], wire: RedisWireMetrics
) -> type[AbstractConnection]:
    """A subclass of ``base`` (TCP, TLS or Unix socket alike) that counts its traffic."""

    class MeteredConnection(base):  # type: ignore[valid-type,misc]
        _wire = wire

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # Names of the commands sent whose reply is still to be read, in order,
            # and of those packed but not yet sent.
            self._pending: deque[str] = deque()
            self._packed: list[str] = []

        async def _connect(self) -> None:
            # redis-py has no public hook on a new socket: pinned by tests/unit/test_redis_wire.py.
            await super()._connect()
            self._pending.clear()
            self._reader = _CountingReader(self._reader, self._wire)  # type: ignore[has-type,arg-type]

        def pack_command(self, *args: Any) -> list[bytes]:
            # Every command is packed here, one by one in pipelines too, but a
            # cluster node packs before it connects, and connecting sends
            # commands of its own: the name waits until its bytes are sent.
            self._packed.append(str(args[0]).upper() if args else UNNAMED)
            packed: list[bytes] = super().pack_command(*args)
            return packed

        async def send_packed_command(
            self, command: bytes | str | Iterable[bytes], check_health: bool = True
        ) -> None:
            names, self._packed = self._packed, []
            if not isinstance(command, (bytes, str)):
                command = list(command)
            await super().send_packed_command(command, check_health)
            self._wire.bytes_written.inc(_size(command))
            for name in names or [UNNAMED]:
                self._pending.append(name)
                self._wire.sent(name).inc()

        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            name = self._pending.popleft() if self._pending else UNNAMED
            try:
                response = await super().read_response(*args, **kwargs)
            except ResponseError:
                self._wire.read(name).inc()
                raise
            self._wire.read(name).inc()
            return response

    MeteredConnection.__name__ = MeteredConnection.__qualname__ = f"Metered{base.__name__}"
    return MeteredConnection


def _size(command: bytes | str | list[bytes]) -> int:
    if isinstance(command, str):
        return len(command.encode())
    if isinstance(command, bytes):
        return len(command)
    return sum(len(part) for part in command)


class _CountingReader:
    """An ``asyncio.StreamReader`` stand-in that counts the bytes it hands out."""

    def __init__(self, reader: asyncio.StreamReader, wire: RedisWireMetrics) -> None:
        self._reader = reader
        self._wire = wire

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    async def read(self, n: int = -1) -> bytes:
        return self._counted(await self._reader.read(n))

    async def readexactly(self, n: int) -> bytes:
        return self._counted(await self._reader.readexactly(n))

    async def readline(self) -> bytes:
        return self._counted(await self._reader.readline())

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        return self._counted(await self._reader.readuntil(separator))

    def _counted(self, data: bytes) -> bytes:
        self._wire.bytes_read.inc(len(data))
        return data
