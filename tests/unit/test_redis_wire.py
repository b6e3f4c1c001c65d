"""The Redis wire metrics against a loopback server that answers ``+OK`` to every command.

The byte count of replies rests on redis-py's ``_connect`` and ``_reader`` (it has
no public hook on a new socket): if an upgrade renames them, this fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry
from redis.asyncio import BlockingConnectionPool

from app.observability.setup.redis_metrics import RedisWireMetrics

OK = b"+OK\r\n"


@contextlib.asynccontextmanager
async def answering_ok() -> AsyncIterator[int]:
    """A server on a loopback port that answers every command (one per line read) ``+OK``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                if line.startswith(b"*"):  # the start of a command: an array of bulk strings
                    writer.write(OK)
                    await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_replies_are_counted_in_bytes_and_the_pools_usage_is_read_from_the_pool():
    registry = CollectorRegistry()
    wire = RedisWireMetrics(registry)
    async with answering_ok() as port:
        # The fake speaks RESP2 only (+OK to anything): no HELLO 3 handshake.
        pool = BlockingConnectionPool(
            host="127.0.0.1", port=port, max_connections=2, timeout=1, protocol=2
        )
        wire.instrument(pool, "main")
        connection = await pool.get_connection()
        assert _sample(registry, "redis_pool_connections_in_use", client="main") == 1
        await connection.send_command("SET", "key", "value")
        assert await connection.read_response() == b"OK"
        await pool.release(connection)
        assert _sample(registry, "redis_pool_connections_in_use", client="main") == 0
        assert _sample(registry, "redis_pool_connections_idle", client="main") == 1
        await pool.disconnect()

    replies = sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "redis_client_replies_read"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
    assert _sample(registry, "redis_client_commands_sent_total", command="SET") == 1
    assert _sample(registry, "redis_client_replies_read_total", command="SET") == 1
    assert _sample(registry, "redis_client_bytes_read_total") == len(OK) * replies > 0
    assert _sample(registry, "redis_client_bytes_written_total") > 0
