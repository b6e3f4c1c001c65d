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

from redis.asyncio import Redis

from app.adapters.redis.sessions import SessionRedisRepository
from app.domain.events import Event
from app.domain.ports import SessionStore
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


@contextlib.asynccontextmanager
async def in_redis(redis: Redis, run_prefix: str) -> AsyncIterator[StoreFactory]:
    """Redis stores under a key prefix of their own, whose keys go when the block ends."""
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
            stream_key=stream,
            stream_max_length=10_000,
        )

        async def events() -> list[Event]:
            return await stream_events(redis, stream)

        return StoreUnderTest(store, policy, asyncio.sleep, events)

    try:
        yield factory
    finally:
        async for key in redis.scan_iter(match=f"{prefix}*", count=500):
            await redis.delete(key)
