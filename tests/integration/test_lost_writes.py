"""Registrations under concurrent load while PostgreSQL crashes and restarts: nothing lost.

Every OK answer's user is in the database with its ``user.registered``
outbox row; an error answer's user is absent or, when the connection broke
after the commit, present and whole (docs/failure-behaviour.md documents such an
UNAVAILABLE as "possibly applied"); no user lacks its outbox row and no
outbox row lacks its user.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from tests.support.client import unique_email
from tests.support.outages import Outage, outcome, running_outage

CALLERS = 8
CALLS_EACH = 40
RESTART_AFTER = 0.3


@pytest.fixture(scope="module")
async def outage() -> AsyncIterator[Outage]:
    async with running_outage(events={"relay_enabled": False}) as running:
        yield running


async def test_no_acknowledged_registration_is_lost_and_none_is_half_written(
    outage: Outage,
) -> None:
    answers: dict[str, grpc.StatusCode] = {}

    async def caller() -> None:
        give_up = time.monotonic() + 60
        for _ in range(CALLS_EACH):
            email = unique_email("crash")
            answers[email] = await outcome(outage.register(email, timeout=5))
            if answers[email] != grpc.StatusCode.OK:
                await asyncio.sleep(0.05)  # spread the calls over the outage
            assert time.monotonic() < give_up

    async def crash_and_restart() -> None:
        await asyncio.sleep(RESTART_AFTER)
        await outage.postgres.restart()

    await asyncio.gather(crash_and_restart(), *(caller() for _ in range(CALLERS)))

    connection = await asyncpg.connect(outage.database())
    try:
        rows = await connection.fetch("SELECT id, email FROM users")
        users = {row["email"]: row["id"] for row in rows}
        registered = await connection.fetch(
            "SELECT user_id, data->>'email' AS email FROM event_outbox"
            " WHERE event_type = 'user.registered'"
        )
    finally:
        await connection.close()

    ok = {email for email, code in answers.items() if code == grpc.StatusCode.OK}
    failed = {email for email, code in answers.items() if code != grpc.StatusCode.OK}
    assert {code for code in answers.values()} <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
    assert failed, "the restart did not interrupt any registration"
    assert ok, "no registration succeeded"
    assert ok <= users.keys()  # nothing acknowledged is lost
    events = {(row["email"], row["user_id"]) for row in registered}
    assert len(events) == len(registered)  # one event per user
    assert events == {(email, users[email]) for email in users}  # nothing half-written
    possibly_applied = failed & users.keys()
    print(
        f"\n[outage] PostgreSQL crash under {CALLERS} callers: {len(ok)} OK, all stored;"
        f" {len(failed)} UNAVAILABLE, {len(possibly_applied)} of them applied"
    )
