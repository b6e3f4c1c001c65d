"""Login throttling, per-address rates and bounded hashing, on the real service.

Each test starts its own instance (small limits, a hasher that counts what
reaches its threads) on the run's PostgreSQL and Redis. Client addresses are
chosen through ``x-forwarded-for``, with 127.0.0.1 configured as a trusted proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from app.bootstrap import build_application
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import make_settings
from tests.support.client import PASSWORD, unique_email
from tests.support.metrics import scrape, value
from tests.support.passwords import CountingHasher

WRONG = "not the right password"
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED

# Long first waits: nothing expires while a test runs unless it says so.
STRICT = {"account_free_failures": 3, "address_free_failures": 1000, "first_wait_seconds": 60.0}


@dataclass
class Instance:
    application: Application
    stub: pb_grpc.UserServiceAsyncStub
    hasher: CountingHasher


@contextlib.asynccontextmanager
async def instance(
    throttling: dict[str, Any], delay_seconds: float = 0.0, **sections: dict[str, Any]
) -> AsyncIterator[Instance]:
    """A service with these limits, trusting 127.0.0.1's x-forwarded-for."""
    settings = make_settings(
        throttling=throttling, grpc={"trusted_proxies": ["127.0.0.1/32"]}, **sections
    )
    hasher = CountingHasher(settings, delay_seconds)
    application = await build_application(settings, passwords=hasher)
    await application.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            yield Instance(application, pb_grpc.UserServiceStub(channel), hasher)
    finally:
        await application.stop(grace=0.5)


def from_address(address: str) -> tuple[tuple[str, str], ...]:
    return (("x-forwarded-for", address),)


def address() -> str:
    """A fresh documentation address (198.18.0.0/15), so tests never share one."""
    value = uuid.uuid4().int
    return f"198.{18 + value % 2}.{value >> 8 & 255}.{value >> 16 & 255}"


async def attempt(
    stub: pb_grpc.UserServiceAsyncStub, email: str, password: str, client: str
) -> grpc.aio.AioRpcError | None:
    """Log in; the error, or None when it succeeded."""
    try:
        await stub.Login(
            pb.LoginRequest(email=email, password=password), metadata=from_address(client)
        )
    except grpc.aio.AioRpcError as err:
        return err
    return None


async def registered(stub: pb_grpc.UserServiceAsyncStub, client: str | None = None) -> str:
    email = unique_email("throttle")
    await stub.Register(
        pb.RegisterRequest(email=email, first_name="T", last_name="H", password=PASSWORD),
        metadata=from_address(client or address()),
    )
    return email


def retry_delay(
    error: grpc.aio.AioRpcError, message: str = "too many attempts, try again later"
) -> float:
    """The RetryInfo of a RESOURCE_EXHAUSTED answer with ``message``, in seconds."""
    assert error.code() is EXHAUSTED
    assert error.details() == message
    status = rpc_status.from_call(error)
    assert status is not None
    [detail] = status.details
    retry = error_details_pb2.RetryInfo()
    assert detail.Unpack(retry)
    return retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9


def codes(errors: list[grpc.aio.AioRpcError | None]) -> list[grpc.StatusCode]:
    return [grpc.StatusCode.OK if error is None else error.code() for error in errors]


async def outbox_events(application: Application, event_type: str, email: str) -> int:
    count: int = await application.pool.fetchval(
        "SELECT count(*) FROM event_outbox WHERE event_type = $1 AND data->>'email' = $2",
        event_type,
        email,
    )
    return count


async def test_parallel_wrong_guesses_past_the_limit_never_reach_the_hasher(application):
    async with instance(STRICT, metrics={"enabled": True}) as service:
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


async def test_registrations_are_limited_per_address(application):
    async with instance({"register_per_address_per_minute": 3}) as service:
        client = address()
        for _ in range(3):
            await registered(service.stub, client)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await registered(service.stub, client)
        assert 0 < retry_delay(refused.value) <= 20  # one registration every 60/3 s
        await registered(service.stub, address())  # another address is not affected


async def test_a_password_longer_than_the_maximum_is_refused_without_hashing(application):
    async with instance(STRICT) as service:
        email = await registered(service.stub)
        hashed_before = service.hasher.runs
        refused = await attempt(service.stub, email, "x" * 100_000, address())
        assert refused is not None and refused.code() is UNAUTHENTICATED
        assert refused.details() == "invalid email or password"
        assert service.hasher.runs == hashed_before


async def test_a_full_hashing_queue_answers_server_busy_at_once(application):
    async with instance(
        STRICT,
        delay_seconds=0.5,
        passwords={"max_workers": 1, "max_waiting": 1},
        metrics={"enabled": True},
    ) as service:
        answers = await asyncio.gather(
            *(attempt(service.stub, unique_email(), WRONG, address()) for _ in range(6))
        )
        busy = [error for error in answers if error is not None and error.code() is EXHAUSTED]
        assert {retry_delay(error, "server busy, try again later") for error in busy} == {1.0}
        assert len(busy) >= 3
        assert set(codes(answers)) <= {UNAUTHENTICATED, EXHAUSTED}
        assert service.hasher.runs + len(busy) == 6
        port = service.application.metrics_port
        assert port is not None
        samples = await scrape(port)
        assert value(samples, "password_hashing_refused_total") == len(busy)
        assert value(samples, "password_hashing_capacity") == 2
        # The service keeps serving once the queue drains.
        email = await registered(service.stub)
        assert await attempt(service.stub, email, PASSWORD, address()) is None


async def test_a_call_whose_client_gave_up_leaves_the_queue_without_being_hashed(application):
    async with instance(
        STRICT, delay_seconds=0.5, passwords={"max_workers": 1, "max_waiting": 10}
    ) as service:
        answers = await asyncio.gather(
            *(
                service.stub.Login(
                    pb.LoginRequest(email=unique_email(), password=WRONG), timeout=0.2
                )
                for _ in range(4)
            ),
            return_exceptions=True,
        )
        outcomes = {
            answer.code() if isinstance(answer, grpc.aio.AioRpcError) else answer
            for answer in answers
        }
        assert outcomes == {grpc.StatusCode.DEADLINE_EXCEEDED}
        await asyncio.sleep(1.2)  # what did start has finished
        assert service.hasher.runs == 1  # the one hash already running when they gave up
