"""A PostgreSQL outage: GetMe keeps working for cached users, and Logins it kept
from being judged lock no one out once it is over.

The service runs on a PostgreSQL server of the test's own, which the test
freezes (SIGSTOP) and thaws; the shared server is never touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.client import PASSWORD, failure, get_me, login, register, unique_email
from tests.support.logs import captured_logs
from tests.support.throttling import SMALL, address, attempt, codes, instance, registered
from tests.support.throwaway import ThrowawayPostgres


@pytest.fixture(scope="module")
async def own_postgres() -> AsyncIterator[ThrowawayPostgres]:
    async with ThrowawayPostgres() as server:
        yield server


async def test_get_me_serves_a_stale_principal_during_an_outage_and_says_so(
    make_application, own_postgres
):
    application = await make_application(
        postgres={
            "dsn": own_postgres.dsn(),
            "command_timeout_seconds": 1.0,
            "connect_timeout_seconds": 1.0,
        },
        sessions={"user_refresh_seconds": 1},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        email = unique_email("outage")
        user = await register(stub, email)
        _, session_id = await login(stub, email)
        own_postgres.freeze()
        try:
            with captured_logs() as captured:
                await asyncio.sleep(1.1)  # the principal is now stale
                for _ in range(3):
                    assert (await get_me(stub, session_id)).user.uuid == user.uuid
                    await asyncio.sleep(0.1)
                # What needs PostgreSQL itself is unavailable, not wrong.
                refused = await failure(login(stub, email))
                assert refused.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            own_postgres.thaw()
        # One call per refresh interval tries PostgreSQL; the others trust the copy.
        assert captured.text.count("serving a stale principal") == 1
        # Once it answers again, the principal is refreshed and all is as before.
        assert (await get_me(stub, session_id)).user.uuid == user.uuid


async def test_logins_an_outage_kept_from_being_judged_lock_no_one_out_after_it(
    application, own_postgres
):
    postgres = {
        "dsn": own_postgres.dsn(),
        "command_timeout_seconds": 1.0,
        "connect_timeout_seconds": 1.0,
    }
    async with instance(SMALL, postgres=postgres) as service:
        tried, other = await registered(service.stub), await registered(service.stub)
        shared = address()
        own_postgres.freeze()
        try:
            # More Logins than the address's (and the account's) free failures.
            answers = [await attempt(service.stub, tried, PASSWORD, shared) for _ in range(5)]
        finally:
            own_postgres.thaw()
        assert codes(answers) == [grpc.StatusCode.UNAVAILABLE] * 5

        # Counted, they would make the address and the account wait a minute.
        assert await attempt(service.stub, other, PASSWORD, shared) is None
        assert await attempt(service.stub, tried, PASSWORD, address()) is None
