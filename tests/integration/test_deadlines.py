"""A client's deadline bounds the work under it; a cancelled call cancels its queries.

On throwaway servers (``tests/support/throwaway.py``): a frozen store makes a
call wait, a table lock makes a statement wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from redis.asyncio import Redis

from app.grpc.generated import user_service_pb2 as pb
from tests.support.client import eventually, session_metadata
from tests.support.metrics import scrape, value
from tests.support.outages import Outage, running_outage, timed

DEADLINE = 0.2
SLACK = 0.5
# The server bounds its own work by the deadline too: whichever side's timer
# fires first decides between these two codes.
KEPT = {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE}


@pytest.fixture(scope="module")
async def outage() -> AsyncIterator[Outage]:
    # No relay and no probes during a test: the pool's connections are the calls'.
    async with running_outage(
        health={"check_interval_seconds": 3600}, events={"relay_enabled": False}
    ) as running:
        yield running


@pytest.fixture(autouse=True)
async def stores_back(outage: Outage) -> AsyncIterator[None]:
    yield
    await outage.restore()


def find_by_email(
    outage: Outage, email: str, session_id: str, timeout: float
) -> grpc.aio.UnaryUnaryCall[pb.FindByEmailRequest, pb.FindByEmailResponse]:
    return outage.stub.FindByEmail(
        pb.FindByEmailRequest(email=email), metadata=session_metadata(session_id), timeout=timeout
    )


def connections_in_use(outage: Outage) -> int:
    pool = outage.application.pool.pool
    return int(pool.get_size() - pool.get_idle_size())


async def test_a_short_deadline_on_a_frozen_postgres_is_kept_and_frees_its_connection(
    outage: Outage,
) -> None:
    user, session_id = await outage.session()
    outage.postgres.freeze()
    results = await asyncio.gather(
        *(timed(find_by_email(outage, user.email, session_id, DEADLINE)) for _ in range(3))
    )
    assert {code for code, _ in results} <= KEPT
    assert max(seconds for _, seconds in results) <= DEADLINE + SLACK

    async def released() -> bool:
        return connections_in_use(outage) == 0 and outage.application.pool.waiting == 0

    # While the server is still frozen: the cancellation is not acknowledged,
    # so the connections are closed after the call bound instead of held.
    started = time.monotonic()
    await eventually(released, timeout=3)
    assert outage.postgres.frozen
    print(f"\n[outage] connections freed {(time.monotonic() - started) * 1000:.0f} ms after")


async def test_a_short_deadline_on_a_frozen_redis_is_kept_and_frees_its_connection(
    outage: Outage,
) -> None:
    _, session_id = await outage.session()
    outage.redis.freeze()
    results = await asyncio.gather(
        *(timed(outage.get_me(session_id, timeout=DEADLINE)) for _ in range(3))
    )
    assert {code for code, _ in results} <= KEPT
    assert max(seconds for _, seconds in results) <= DEADLINE + SLACK

    async def released() -> bool:
        redis = outage.application.redis
        assert isinstance(redis, Redis)  # a single node's outage
        return not redis.connection_pool._in_use_connections

    await eventually(released, timeout=3)
    assert outage.redis.frozen


@pytest.mark.parametrize("ended_by", ["deadline", "client cancel"])
async def test_a_call_ended_early_cancels_its_query_on_the_server(
    outage: Outage, ended_by: str
) -> None:
    user, session_id = await outage.session()
    locker = await asyncpg.connect(outage.database())
    observer = await asyncpg.connect(outage.database())
    try:

        async def cancelled_on_server() -> bool:
            # Outside any transaction: statistics views are snapshotted per transaction.
            count: int = await observer.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> ALL($1::int[])"
                " AND state = 'active' AND query LIKE '%FROM users%'",
                [locker.get_server_pid(), observer.get_server_pid()],
            )
            return count == 0

        async with locker.transaction():
            await locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            if ended_by == "deadline":
                call = find_by_email(outage, user.email, session_id, 0.3)
            else:
                call = find_by_email(outage, user.email, session_id, 10)
                asyncio.get_running_loop().call_later(0.3, call.cancel)
            code, _ = await timed(call)
            assert code in KEPT | {grpc.StatusCode.CANCELLED}
            # The lock is still held: only a cancel request ends the statement.
            await eventually(cancelled_on_server, timeout=3)
    finally:
        await locker.close()
        await observer.close()

    async def released() -> bool:
        return connections_in_use(outage) == 0

    await eventually(released, timeout=3)


async def test_callers_waiting_for_a_connection_show_in_the_pool_metrics(outage: Outage) -> None:
    user, session_id = await outage.session()
    port = outage.application.metrics_port
    assert port
    size = outage.application.settings.postgres.pool_max_size
    outage.postgres.freeze()
    calls = [
        asyncio.ensure_future(timed(find_by_email(outage, user.email, session_id, 10)))
        for _ in range(size + 5)
    ]
    await asyncio.sleep(0.3)
    waiting = value(await scrape(port), "pg_pool_waiting")
    results = await asyncio.gather(*calls)
    assert waiting >= 5
    assert {code for code, _ in results} == {grpc.StatusCode.UNAVAILABLE}
    assert max(seconds for _, seconds in results) <= 1.0 + SLACK
    assert value(await scrape(port), "pg_pool_waiting") == 0
