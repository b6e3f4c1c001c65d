"""Two services on one Redis Cluster, and a master killed under load.

When a master dies, calls answer UNAVAILABLE (never INTERNAL or UNKNOWN)
until its replica is promoted and the cluster answers again; then they
succeed again without a restart, and sessions written (and replicated)
before the kill are all still there. The figures (time to the first OK,
calls refused) are printed for the docs; nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import running_application
from tests.support.client import (
    get_me,
    is_unauthenticated,
    login,
    register,
    session_metadata,
    unique_email,
)
from tests.support.outages import outcome, seconds_until
from tests.support.redis_cluster import ThrowawayRedisCluster
from tests.support.redis_deployments import session_key

OK, UNAVAILABLE = grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE
USERS = 12
CALLERS = 4
RECOVERY_BOUND_SECONDS = 60.0  # a guard against a hang, not a speed
SETTLED_CALLS = 50  # OK in a row after the kill: recovered


@dataclass
class Services:
    first: pb_grpc.UserServiceAsyncStub
    second: pb_grpc.UserServiceAsyncStub
    application: Application


@pytest.fixture
async def services(redis_cluster: ThrowawayRedisCluster) -> AsyncIterator[Services]:
    """Two services on the cluster (cluster mode, the run's database and key prefix)."""
    sections = {"redis": {"url": redis_cluster.url, "cluster": True}}
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(running_application(**sections))
        second = await stack.enter_async_context(running_application(**sections))
        channels = [
            await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{app.port}"))
            for app in (first, second)
        ]
        first_stub, second_stub = (pb_grpc.UserServiceStub(channel) for channel in channels)
        yield Services(first_stub, second_stub, first)


async def test_two_services_share_sessions_on_one_cluster(services: Services) -> None:
    email = unique_email("two-on-cluster")
    await register(services.first, email)
    _, on_first = await login(services.first, email)
    _, on_second = await login(services.second, email)
    for stub in (services.first, services.second):
        for session_id in (on_first, on_second):
            await get_me(stub, session_id)
    ended = await services.second.LogoutAll(
        pb.LogoutAllRequest(), metadata=session_metadata(on_first)
    )
    assert ended.ended == 2
    for session_id in (on_first, on_second):
        assert await is_unauthenticated(get_me(services.first, session_id))


@dataclass
class Load:
    """GetMe calls by a few callers, each call's outcome with when it ended."""

    started: float = field(default_factory=time.monotonic)
    answers: list[tuple[float, grpc.StatusCode, bool]] = field(default_factory=list)
    """(seconds since the kill, code, whether the session is on the killed master)"""

    def settled(self, calls: int) -> bool:
        """Whether the last ``calls`` answers, all after the kill, were OK."""
        last = self.answers[-calls:]
        return len(last) == calls and all(at >= 0 and code is OK for at, code, _ in last)

    def first_ok_after(self, killed: float, *, on_victim: bool) -> float | None:
        return next(
            (
                at
                for at, code, victim in self.answers
                if at > killed and code is OK and victim == on_victim
            ),
            None,
        )


async def test_a_killed_master_answers_unavailable_until_its_replica_serves_then_ok(
    services: Services, redis_cluster: ThrowawayRedisCluster
) -> None:
    stub, settings = services.first, services.application.settings
    emails = [unique_email("failover") for _ in range(USERS)]
    await asyncio.gather(*(register(stub, email) for email in emails))
    sessions = [
        session_id for _, session_id in await asyncio.gather(*(login(stub, e) for e in emails))
    ]
    victim = redis_cluster.master_of(session_key(settings, sessions[0]))
    on_victim = {s for s in sessions if redis_cluster.master_of(session_key(settings, s)) is victim}
    with victim.client() as direct:
        assert direct.wait(1, 5000) == 1  # its replica has every session before it dies

    load, killed_at = Load(), asyncio.get_running_loop().create_future()
    turns = itertools.cycle(sessions)

    async def caller() -> None:
        while time.monotonic() - load.started < RECOVERY_BOUND_SECONDS:
            session_id = next(turns)
            code = await outcome(
                stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id), timeout=2)
            )
            since = time.monotonic() - killed_at.result() if killed_at.done() else -1.0
            load.answers.append((since, code, session_id in on_victim))
            if load.settled(SETTLED_CALLS):
                return
            await asyncio.sleep(0.01)

    callers = [asyncio.create_task(caller()) for _ in range(CALLERS)]
    await asyncio.sleep(0.5)
    victim.kill()
    killed_at.set_result(time.monotonic())
    await asyncio.gather(*callers)

    codes = {code for _, code, _ in load.answers}
    assert codes <= {OK, UNAVAILABLE}, codes
    refused = [at for at, code, _ in load.answers if code is UNAVAILABLE]
    assert refused, "the kill was never noticed"
    first_ok = load.first_ok_after(min(refused), on_victim=True)
    assert load.settled(SETTLED_CALLS), f"not recovered within {RECOVERY_BOUND_SECONDS} s"
    assert first_ok is not None
    # Nothing lost: every session is found again, through both services. The
    # second, idle through the failover, learns the new layout on its first calls.
    for session_id in sessions:
        await get_me(services.first, session_id)
    idle_since = time.monotonic()
    for session_id in sessions:
        metadata = session_metadata(session_id)
        await seconds_until(
            partial(services.second.GetMe, pb.GetMeRequest(), metadata=metadata, timeout=2),
            OK,
            since=idle_since,
            timeout=RECOVERY_BOUND_SECONDS,
        )
    idle_recovered = time.monotonic() - idle_since
    after_kill = [answer for answer in load.answers if answer[0] >= 0]
    print(
        f"\nfailover: first UNAVAILABLE {min(refused):.2f} s after the kill, first OK on the "
        f"killed master's slots after it {first_ok:.2f} s; "
        f"last UNAVAILABLE {max(refused):.2f} s; {len(refused)} of {len(after_kill)} calls "
        f"after the kill answered UNAVAILABLE; sessions lost 0 of {len(sessions)}; "
        f"the idle service served them all {idle_recovered:.2f} s after its first call"
    )
