"""The session stores under one contract: the in-memory fake and the Redis adapter.

Each is handed to a contract test as a :class:`StoreUnderTest`: the store, a
way to let time pass, and the events it published. Time passes on the fake's
own clock at once; on Redis (whose scripts read Redis's clock) it really
passes, so the contract's lifetimes are whole seconds, few and short.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast
from uuid import UUID

from redis.asyncio import Redis

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.sessions import SessionRedisRepository
from app.adapters.redis.streams import EventStreams
from app.domain.events import Event
from app.domain.ports import SessionLookup, SessionStore
from app.domain.sessions import ROUTE_SEPARATOR, SessionHandle, SessionRecord
from app.domain.users import Principal
from tests.support.events import stream_events
from tests.unit.fakes import FakeClock, FakeSessions


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """The store's settings, in whole seconds as the service's settings are."""

    idle_seconds: int = 60
    lifetime_seconds: int = 3600
    cap: int = 10
    refresh_seconds: int = 30


@dataclass(frozen=True, slots=True)
class StoreUnderTest:
    store: SessionStore
    policy: SessionPolicy
    wait: Callable[[float], Awaitable[None]]
    """Let this many seconds pass on the store's clock."""
    events: Callable[[], Awaitable[list[Event]]]
    """Every event the store published, oldest first."""


StoreFactory = Callable[[SessionPolicy], StoreUnderTest]


def in_memory(policy: SessionPolicy) -> StoreUnderTest:
    clock = FakeClock()
    fake = FakeSessions(
        cap=policy.cap,
        clock=clock,
        idle_timeout=timedelta(seconds=policy.idle_seconds),
        lifetime=timedelta(seconds=policy.lifetime_seconds),
        refresh=timedelta(seconds=policy.refresh_seconds),
    )

    async def wait(seconds: float) -> None:
        clock.advance(seconds)

    async def events() -> list[Event]:
        return list(fake.events)

    return StoreUnderTest(fake, policy, wait, events)


class RoutedIds:
    """A store whose callers' ids get the route the service's ids carry (user id after a dot).

    The contract names sessions "s1", "kept"…; on a cluster a session is found
    from its id's route, so each id is routed at ``create`` and translated after.
    """

    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self._routed: dict[str, str] = {}

    def _id(self, session_id: str) -> str:
        return self._routed.get(session_id, session_id)

    async def create(
        self, session_id: str, principal: Principal, *args: Any, **options: Any
    ) -> Any:
        routed = self._routed.setdefault(
            session_id, f"{session_id}{ROUTE_SEPARATOR}{principal.user.id.hex}"
        )
        return await self._store.create(routed, principal, *args, **options)

    async def resolve(self, session_id: str, revoked: Event) -> SessionLookup | None:
        return await self._store.resolve(self._id(session_id), revoked)

    async def put_principal(self, principal: Principal) -> None:
        await self._store.put_principal(principal)

    async def delete(self, session_id: str, logged_out: Event) -> UUID | None:
        return await self._store.delete(self._id(session_id), logged_out)

    async def list(self, user_id: UUID, current_session_id: str) -> list[SessionRecord]:
        return await self._store.list(user_id, self._id(current_session_id))

    async def revoke(self, user_id: UUID, handle: SessionHandle, revoked: Event) -> bool:
        return await self._store.revoke(user_id, handle, revoked)

    async def revoke_all(
        self, user_id: UUID, revoked: Event, *, keep_session_id: str | None = None, **options: Any
    ) -> int:
        keep = self._id(keep_session_id) if keep_session_id is not None else None
        return await self._store.revoke_all(user_id, revoked, keep_session_id=keep, **options)

    async def forget(self, user_id: UUID, revoked: Event) -> int:
        return await self._store.forget(user_id, revoked)


@contextlib.asynccontextmanager
async def in_redis(
    redis: RedisClient, run_prefix: str, *, cluster: bool = False
) -> AsyncIterator[StoreFactory]:
    """Redis stores under a key prefix of their own, whose keys go when the block ends.

    ``cluster``: ``redis`` is a cluster's client; the store lays its keys out
    for it, and the contract's ids get their route (:class:`RoutedIds`).
    """
    prefix = f"{run_prefix}contract:{uuid.uuid4().hex[:12]}:"

    def factory(policy: SessionPolicy) -> StoreUnderTest:
        # Each store its own prefix, so two stores of one test share nothing.
        own = f"{prefix}{uuid.uuid4().hex[:8]}:"
        stream = f"{own}events"
        store = SessionRedisRepository(
            redis,
            key_prefix=own,
            ttl_seconds=policy.idle_seconds,
            absolute_lifetime_seconds=policy.lifetime_seconds,
            max_per_user=policy.cap,
            user_refresh_seconds=policy.refresh_seconds,
            streams=EventStreams(own, "events", 1),
            stream_max_length=10_000,
            cluster=cluster,
        )

        async def events() -> list[Event]:
            # Streams commands are the same on a cluster's client.
            published = await stream_events(cast(Redis, redis), stream)
            if not cluster:
                return published
            # On a cluster, events reach the stream at least once (two changes of
            # one user may both forward its waiting events); consumers keep one of
            # each event_id, and so does the contract.
            return list({event.id: event for event in published}.values())

        under_test = RoutedIds(store) if cluster else store
        return StoreUnderTest(under_test, policy, asyncio.sleep, events)

    try:
        yield factory
    finally:
        async for key in redis.scan_iter(match=f"{prefix}*", count=500):
            await redis.delete(key)
