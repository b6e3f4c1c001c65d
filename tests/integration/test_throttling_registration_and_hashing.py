"""Registrations per address and bounded hashing, on the real service.

Each test starts its own instance (``tests/support/throttling.py``) on the
run's PostgreSQL and Redis, as the login throttling tests do.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from tests.support.client import PASSWORD, unique_email
from tests.support.metrics import scrape, value
from tests.support.throttling import (
    EXHAUSTED,
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
    # One client of its own: the run's wrong logins from 127.0.0.1 would put it past
    # STRICT's free failures, and a call waiting out a back-off never reaches the queue.
    client = from_address(address())
    async with instance(
        STRICT, delay_seconds=1.5, passwords={"max_workers": 1, "max_waiting": 10}
    ) as service:
        answers = await asyncio.gather(
            *(
                service.stub.Login(
                    pb.LoginRequest(email=unique_email(), password=WRONG),
                    metadata=client,
                    timeout=0.6,
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
        await asyncio.sleep(2.0)  # what did start has finished
        assert service.hasher.runs == 1  # the one hash already running when they gave up
