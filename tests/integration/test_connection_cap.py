"""The total connection cap: connections past it are closed at once, and room comes back."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.http2 import RawConnection, raw_connection


async def test_connections_past_the_cap_are_closed_and_a_freed_place_is_reused(make_application):
    application = await make_application(grpc={"max_connections": 2})
    async with contextlib.AsyncExitStack() as held:
        first = await held.enter_async_context(raw_connection(application.port))
        await held.enter_async_context(raw_connection(application.port))
        async with raw_connection(application.port, handshake=False) as refused:
            assert await _refused(refused)
        await first.close()
        # The freed place is given back when gRPC core has dropped the connection.
        for _ in range(50):
            async with raw_connection(application.port, handshake=False) as later:
                if not await _refused(later):
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no connection accepted after one of two was closed")


async def _refused(connection: RawConnection) -> bool:
    try:
        await connection.handshake()
    except ConnectionError:
        return True
    return False
