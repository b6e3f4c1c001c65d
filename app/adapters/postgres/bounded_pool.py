"""BoundedPool: the asyncpg pool, with each use bounded as a whole.

asyncpg bounds each statement (``command_timeout``) but not the rest: waiting
for a free connection has no limit, and a timed-out statement's cancel
request waits up to another ``command_timeout`` before the call returns, so
a frozen server held calls for twice the setting. Here one deadline covers
waiting for a connection, connecting, the statements and the commit: the
smaller of ``call_timeout`` and the time the caller has left
(:func:`app.domain.deadlines.bound`). When it passes, or the call is
cancelled, the caller gets its ``TimeoutError`` (or ``CancelledError``) at
once. The connection goes back to the pool in a task of its own: after an
interrupted statement, once the server acknowledged its cancellation, or
closed after ``call_timeout`` without an answer, so a frozen server never
keeps it and the caller never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import structlog

from app.adapters.postgres.errors import postgres_unavailable
from app.adapters.store_states import StoreStates
from app.domain.deadlines import bound
from app.domain.errors import Store

logger = structlog.get_logger(__name__)


class BoundedPool:
    """The pool methods the adapters use, each bounded; counts the callers waiting.

    A call that fails for lack of the server (timeout, lost connection) marks
    PostgreSQL down in ``states``; one that succeeds marks it up.
    """

    def __init__(self, pool: asyncpg.Pool, *, call_timeout: float, states: StoreStates) -> None:
        self.pool = pool
        self.waiting = 0
        self._call_timeout = call_timeout
        self._states = states
        self._releases: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        """A connection for the block, which must end within the call's bound.

        After a block that ended well the caller waits for the connection to
        be given back (one round trip), but only for what is left of the
        bound, and a failure then does not fail the block: its work is done,
        committed. After an interrupted or failed block the connection is
        given back in the background: the server may still be busy with it.
        """
        loop = asyncio.get_running_loop()
        give_up = loop.time() + bound(self._call_timeout)
        async with self._states.bounded(Store.POSTGRESQL, self._call_timeout, postgres_unavailable):
            connection = await self._acquire()
            try:
                yield connection
            except BaseException:
                self._release_in_background(connection)
                raise
        release = self._release_in_background(connection)
        # A release still running at the bound carries on in the background.
        with contextlib.suppress(Exception):  # its failure is logged by _released
            await asyncio.wait_for(asyncio.shield(release), max(0.0, give_up - loop.time()))

    async def execute(self, query: str, *args: Any) -> Any:
        async with self.acquire() as connection:
            return await connection.execute(query, *args)

    async def fetch(self, query: str, *args: Any) -> Any:
        async with self.acquire() as connection:
            return await connection.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        async with self.acquire() as connection:
            return await connection.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.acquire() as connection:
            return await connection.fetchval(query, *args)

    async def close(self) -> None:
        """Let the background releases finish (each is bounded), then close the pool."""
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)
        await self.pool.close()

    async def _acquire(self) -> Any:
        # asyncpg counts no waiters; the callers blocked here are exactly them
        # (including those whose connection is being opened).
        self.waiting += 1
        try:
            return await self.pool.acquire()
        finally:
            self.waiting -= 1

    def _release_in_background(self, connection: Any) -> asyncio.Task[None]:
        """Give ``connection`` back in a task of its own, so no caller's cancellation stops it.

        After an interrupted statement asyncpg has sent the server a cancel
        request; the release waits ``call_timeout`` for its acknowledgement
        (then nothing keeps running, or holding locks, on the server) and
        otherwise closes the connection (a frozen server). Whatever fails is
        logged here, once.
        """
        task = asyncio.create_task(
            self.pool.release(connection, timeout=self._call_timeout), name="pg-release"
        )
        self._releases.add(task)
        task.add_done_callback(self._released)
        return task

    def _released(self, task: asyncio.Task[None]) -> None:
        self._releases.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.info(
                "closed a connection that could not be given back cleanly",
                store=Store.POSTGRESQL.value,
                error=type(task.exception()).__name__,
            )
