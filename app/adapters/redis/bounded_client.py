"""BoundedRedis: a Redis client whose every command and pipeline is bounded as a whole.

redis-py bounds each socket operation (``socket_timeout``), the wait for a
pooled connection (the pool's ``timeout``) and connecting
(``socket_connect_timeout``) separately, so one command could take their sum,
and more with retries. Here one deadline covers them all: the smaller of
``call_timeout`` and the time the caller has left
(:func:`app.domain.deadlines.bound`). A command cut short disconnects its
connection (redis-py does that on any interruption), so the pool never hands
out a connection with a reply still in flight.

Being the client itself, it bounds every adapter's commands (sessions,
cache, throttle, streams) without each having to remember to.
``BoundedRedisCluster`` does the same for redis-py's Redis Cluster client:
one deadline over a command's redirections and retries too.

Adapters take a :data:`RedisClient`, either client: they use only what both
offer (commands, scripts, pipelines of one slot's keys).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, TypeAlias

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from app.adapters.redis.errors import redis_unavailable
from app.adapters.store_states import StoreStates
from app.domain.deadlines import bound
from app.domain.errors import Store

#: A client of one Redis or of a Redis Cluster.
RedisClient: TypeAlias = Redis | RedisCluster


class CallBound:
    """One bound on a whole command or pipeline; notes in ``states`` whether Redis answers.

    Without ``states`` (a consumer's client, whose blocking reads the socket
    timeout bounds) it only reads a write to a closed connection as the
    connection error it is.
    """

    def __init__(self, call_timeout: float, states: StoreStates | None) -> None:
        self.call_timeout = call_timeout
        self.states = states

    def around(self) -> BoundedCall:
        """The bound of one command or pipeline, entered with ``async with``."""
        return BoundedCall(self.call_timeout, self.states)


class BoundedCall:
    """One command under :class:`CallBound`: ``StoreStates.bounded``'s rules, as a class.

    Written out rather than composed from generator-based context managers:
    it runs around every Redis command, where three nested ones cost more than
    the command's own bookkeeping.
    """

    __slots__ = ("_budget", "_call_timeout", "_states", "_timeout")

    def __init__(self, call_timeout: float, states: StoreStates | None) -> None:
        self._call_timeout = call_timeout
        self._states = states

    async def __aenter__(self) -> None:
        if self._states is not None:
            self._budget = bound(self._call_timeout)
            self._timeout = asyncio.timeout(self._budget)
            await self._timeout.__aenter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not isinstance(error, RuntimeError):
            if self._states is not None:
                await self._end_bound(self._states, kind, error, traceback)
            return
        # On uvloop, writing to a transport the peer closed raises RuntimeError
        # (asyncio's own loop raises OSError, which redis-py reads as
        # ConnectionError); redis-py drops that connection either way. Seen
        # when a cluster's master is killed under load.
        closed = RedisConnectionError("the connection was closed while writing")
        if self._states is not None:
            await self._end_bound(self._states, RedisConnectionError, closed, traceback)
        raise closed from error

    async def _end_bound(
        self,
        states: StoreStates,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """End the timeout and note in ``states`` what the call says of Redis."""
        had_whole_timeout = self._budget >= self._call_timeout
        try:
            await self._timeout.__aexit__(kind, error, traceback)
        except TimeoutError as timed_out:
            states.note_failure(Store.REDIS, timed_out, had_whole_timeout, redis_unavailable)
            raise
        if error is None:
            states.succeeded(Store.REDIS)
        else:
            states.note_failure(Store.REDIS, error, had_whole_timeout, redis_unavailable)


class BoundedRedis(Redis):
    """``Redis`` with each command bounded; notes in ``states`` whether Redis answers.

    Without ``states``, unbounded but for the socket timeout (see :class:`CallBound`).
    """

    def __init__(self, *, call_timeout: float, states: StoreStates | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bound = CallBound(call_timeout, states)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        async with self.bound.around():
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return BoundedPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint, bound=self.bound
        )


class BoundedPipeline(Pipeline):
    """A pipeline whose ``execute`` (all its commands together) is bounded like a command."""

    def __init__(self, *args: Any, bound: CallBound) -> None:
        super().__init__(*args)
        self.bound = bound

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        async with self.bound.around():
            return await super().execute(raise_on_error)


class BoundedRedisCluster(RedisCluster):
    """``RedisCluster`` with each command bounded, redirections and retries included.

    Without ``states``, unbounded but for the socket timeout (see :class:`CallBound`).
    """

    def __init__(self, *, call_timeout: float, states: StoreStates | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bound = CallBound(call_timeout, states)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        async with self.bound.around():
            return await super().execute_command(*args, **options)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # refused by redis-py
        # redis-py's ClusterPipeline leaves an attribute of its abstract base
        # undeclared for type checkers; it is whole at run time.
        return BoundedClusterPipeline(self, transaction, bound=self.bound)  # type: ignore[abstract]


class BoundedClusterPipeline(ClusterPipeline):
    """A cluster pipeline whose ``execute`` is bounded like a command."""

    def __init__(self, client: RedisCluster, transaction: Any | None, *, bound: CallBound) -> None:
        super().__init__(client, transaction=transaction)
        self.bound = bound

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        async with self.bound.around():
            return await super().execute(raise_on_error, allow_redirections)
