"""Login throttling per account and per address, on the real service.

Each test starts its own instance (small limits, a hasher that counts what
reaches its threads) on the run's PostgreSQL and Redis. Client addresses are
chosen through ``x-forwarded-for``, with 127.0.0.1 configured as a trusted proxy.
"""

# ruff: noqa: F811 (redis_sections, imported, is a test's parameter)

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc

from app.grpc.generated import user_service_pb2 as pb
from app.lifecycle import Application
from tests.support.client import PASSWORD, eventually, unique_email
from tests.support.logs import LogLines, captured_logs
from tests.support.metrics import scrape, value
from tests.support.redis_deployments import redis_sections  # noqa: F401 (one node, a cluster)
from tests.support.throttling import (
    EXHAUSTED,
    SMALL,
    STRICT,
    UNAUTHENTICATED,
    WRONG,
    address,
    attempt,
    codes,
    from_address,
    instance,
    registered,
    retry_delay,
)


async def outbox_events(application: Application, event_type: str, email: str) -> int:
    count: int = await application.pool.fetchval(
        "SELECT count(*) FROM event_outbox WHERE event_type = $1 AND data->>'email' = $2",
        event_type,
        email,
    )
    return count


async def test_parallel_wrong_guesses_past_the_limit_never_reach_the_hasher(
    application, redis_sections
):
    async with instance(STRICT, metrics={"enabled": True}, **redis_sections) as service:
        email = await registered(service.stub)
        hashed_before = service.hasher.runs
        client = address()

        answers = await asyncio.gather(
            *(attempt(service.stub, email, WRONG, client) for _ in range(8))
        )

        assert sorted(codes(answers), key=str) == sorted(
            [UNAUTHENTICATED] * 3 + [EXHAUSTED] * 5, key=str
        )
        assert service.hasher.runs - hashed_before == 3
        assert await outbox_events(service.application, "user.login_failed", email) == 3
        # The block is reported once, not once per refused attempt.
        assert await outbox_events(service.application, "user.login_throttled", email) == 1
        for error in answers:
            if error is not None and error.code() is EXHAUSTED:
                assert 0 < retry_delay(error) <= 60
        # The right password waits too: nothing tells a guesser it was right.
        refused = await attempt(service.stub, email, PASSWORD, client)
        assert refused is not None and refused.code() is EXHAUSTED
        port = service.application.metrics_port
        assert port is not None
        samples = await scrape(port)
        assert value(samples, "throttled_attempts_total", action="login", scope="account") == 6
        assert value(samples, "throttled_attempts_total", action="login", scope="address") == 0


async def test_a_success_clears_the_account_counter(application):
    throttling = {**STRICT, "account_free_failures": 2}
    async with instance(throttling) as service:
        email = await registered(service.stub)
        sequence = [WRONG, PASSWORD, WRONG, WRONG, PASSWORD]
        # A fresh address each time: none of them is known to the account.
        answers = [await attempt(service.stub, email, password, address()) for password in sequence]
        # Without the clearing, the third attempt would already have been refused.
        assert codes(answers) == [
            UNAUTHENTICATED,
            grpc.StatusCode.OK,
            UNAUTHENTICATED,
            UNAUTHENTICATED,
            EXHAUSTED,
        ]


async def test_guessing_from_elsewhere_does_not_keep_the_owner_out_at_a_known_address(
    application,
):
    async with instance(STRICT) as service:
        email, home, attacker = await registered(service.stub), address(), address()
        assert await attempt(service.stub, email, PASSWORD, home) is None
        guesses = [await attempt(service.stub, email, WRONG, attacker) for _ in range(4)]
        assert codes(guesses) == [UNAUTHENTICATED] * 3 + [EXHAUSTED]

        assert await attempt(service.stub, email, PASSWORD, home) is None
        # The owner's login cleared the account: the attacker starts over, and
        # a new address is subject to the account's wait as before.
        guesses = [await attempt(service.stub, email, WRONG, attacker) for _ in range(3)]
        refused = await attempt(service.stub, email, PASSWORD, address())
        assert codes([*guesses, refused]) == [UNAUTHENTICATED] * 3 + [EXHAUSTED]


async def test_the_wait_doubles_after_each_failure_up_to_the_cap(application):
    throttling = {
        "account_free_failures": 1,
        "address_free_failures": 1000,
        "first_wait_seconds": 0.5,
        "max_wait_seconds": 2.0,
    }
    async with instance(throttling) as service:
        email, client = await registered(service.stub), address()
        waits = []
        for _ in range(4):
            assert codes([await attempt(service.stub, email, WRONG, client)]) == [UNAUTHENTICATED]
            refused = await attempt(service.stub, email, WRONG, client)
            assert refused is not None
            waits.append(retry_delay(refused))
            await asyncio.sleep(waits[-1] + 0.05)
        for wait, expected in zip(waits, [0.5, 1.0, 2.0, 2.0], strict=True):
            assert expected / 2 < wait <= expected


async def test_the_address_limit_is_independent_of_the_account(application):
    throttling: dict[str, float] = {"account_free_failures": 1000, "address_free_failures": 3}
    throttling["first_wait_seconds"] = 60.0
    async with instance(throttling) as service:
        client = address()
        # Three different accounts, one of them not even a valid email: all count.
        for email in (unique_email(), unique_email(), "not an email"):
            assert codes([await attempt(service.stub, email, WRONG, client)]) == [UNAUTHENTICATED]
        refused = await attempt(service.stub, unique_email(), WRONG, client)
        assert refused is not None and 0 < retry_delay(refused) <= 60
        # Another address is not affected, nor is the account from elsewhere.
        email = await registered(service.stub)
        assert await attempt(service.stub, email, PASSWORD, address()) is None
        # The block's event names the address's network, never the address.
        network = client.rsplit(".", 1)[0] + ".0/24"
        rows = await service.application.pool.fetch(
            "SELECT data::text AS data FROM event_outbox WHERE event_type = 'user.login_throttled'"
            " AND (data->>'source_address' = $1 OR strpos(data::text, $2) > 0)",
            network,
            f'"{client}"',
        )
        assert rows and all(f'"{client}"' not in row["data"] for row in rows)


async def test_the_account_limit_counts_guesses_from_every_address(application):
    async with instance(STRICT) as service:
        email = await registered(service.stub)
        answers = [await attempt(service.stub, email, WRONG, address()) for _ in range(4)]
        assert codes(answers) == [UNAUTHENTICATED] * 3 + [EXHAUSTED]


async def test_every_spelling_of_an_address_counts_against_the_one_account(application):
    async with instance(STRICT) as service:
        email, client = await registered(service.stub), address()
        fullwidth = chr(ord(email[0]) - ord("a") + ord("\uff41")) + email[1:]
        spellings = [email, email.upper(), fullwidth, email]
        answers = [await attempt(service.stub, spelt, WRONG, client) for spelt in spellings]
        assert codes(answers) == [UNAUTHENTICATED] * 3 + [EXHAUSTED]


async def test_two_instances_sharing_the_stores_count_together(application):
    async with instance(STRICT) as first, instance(STRICT) as second:
        email, client = await registered(first.stub), address()
        stubs = [first.stub, second.stub, first.stub, second.stub, first.stub]
        answers = [await attempt(stub, email, WRONG, client) for stub in stubs]
        assert codes(answers) == [UNAUTHENTICATED] * 3 + [EXHAUSTED] * 2


def _throttled_lines(logs: LogLines) -> list[dict[str, Any]]:
    return [
        line
        for line in logs.events("rpc finished")
        if line["rpc_method"] == "/userService.UserService/Login"
        and line["grpc_code"] == "RESOURCE_EXHAUSTED"
    ]


async def _logged_twice(logs: LogLines) -> bool:
    return len(_throttled_lines(logs)) == 2


async def test_a_throttled_logins_log_line_says_why_and_holds_no_secret(application):
    async with instance(SMALL) as service:
        email, other = await registered(service.stub), await registered(service.stub)
        shared = address()
        answer = await service.stub.Login(
            pb.LoginRequest(email=other, password=PASSWORD), metadata=from_address(address())
        )
        token = answer.device_token
        guesses = [await attempt(service.stub, unique_email(), WRONG, shared) for _ in range(3)]
        guesses += [await attempt(service.stub, email, WRONG, address()) for _ in range(3)]
        assert codes(guesses) == [UNAUTHENTICATED] * 6

        with captured_logs() as captured:
            by_address = await attempt(service.stub, other, PASSWORD, shared)
            # Another account's device token exempts nothing: it must not be logged either.
            by_account = await attempt(service.stub, email, PASSWORD, address(), token)
            # The status reaches the client before the interceptor's line is written.
            await eventually(lambda: _logged_twice(captured), timeout=5)
        assert codes([by_address, by_account]) == [EXHAUSTED] * 2

        lines = _throttled_lines(captured)
        assert sorted(line["throttle_scope"] for line in lines) == ["account", "address"]
        for line in lines:
            assert line["throttle_action"] == "login"
            assert 0 < line["retry_after_seconds"] <= 60
            logged = json.dumps(line)
            for secret in (email, other, PASSWORD, token):
                assert secret not in logged
