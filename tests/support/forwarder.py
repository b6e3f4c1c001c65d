"""A TCP forwarder that reaches a server from another loopback address.

The service sees the forwarder's connections coming from ``source`` (say
127.0.0.2: all of 127.0.0.0/8 is loopback on Linux), so one test can play two
clients at two addresses without a proxy the service must trust.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def forwarder(target_port: int, source: str) -> AsyncIterator[int]:
    """Accept on a free port of 127.0.0.1 and forward each connection to
    ``127.0.0.1:target_port`` from ``source``; yields the port to connect to."""
    pipes: set[asyncio.Task[None]] = set()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", target_port, local_addr=(source, 0)
            )
        except OSError:
            writer.close()
            return
        for task in (
            asyncio.create_task(_pipe(reader, upstream_writer)),
            asyncio.create_task(_pipe(upstream_reader, writer)),
        ):
            pipes.add(task)
            task.add_done_callback(pipes.discard)

    server = await asyncio.start_server(forward, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        await server.wait_closed()
