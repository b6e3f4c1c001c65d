"""Which stores answer: the breaker that makes calls fail fast, and the bound on a call."""

from __future__ import annotations

import asyncio

import pytest

from app.adapters.store_states import StoreStates
from app.domain.deadlines import within
from app.domain.errors import Store


def _is_connection_error(error: BaseException) -> bool:
    return isinstance(error, ConnectionError)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_opens_the_breaker_for_the_open_time_only():
    clock = Clock()
    states = StoreStates(open_seconds=1.0, clock=clock)
    states.failed(Store.REDIS)
    assert states.known_down(Store.REDIS)
    assert not states.known_down(Store.POSTGRESQL)
    clock.now += 0.99
    assert states.known_down(Store.REDIS)
    clock.now += 0.02
    assert not states.known_down(Store.REDIS)  # half-open: the next call tries


def test_a_success_or_a_passing_probe_closes_it_at_once():
    states = StoreStates(open_seconds=60.0, clock=Clock())
    states.observed(Store.POSTGRESQL, answered=False)
    assert states.known_down(Store.POSTGRESQL)
    states.observed(Store.POSTGRESQL, answered=True)
    assert not states.known_down(Store.POSTGRESQL)
    states.failed(Store.REDIS)
    states.succeeded(Store.REDIS)
    assert not states.known_down(Store.REDIS)


async def test_a_call_that_outlives_its_bound_times_out_and_marks_the_store_down():
    states = StoreStates(open_seconds=60.0)
    with pytest.raises(TimeoutError):
        async with states.bounded(Store.REDIS, 0.05, _is_connection_error):
            await asyncio.sleep(5)
    assert states.known_down(Store.REDIS)


async def test_a_connection_error_marks_the_store_down_and_an_answer_marks_it_up():
    states = StoreStates(open_seconds=60.0)
    with pytest.raises(ConnectionError):
        async with states.bounded(Store.POSTGRESQL, 1.0, _is_connection_error):
            raise ConnectionError("refused")
    assert states.known_down(Store.POSTGRESQL)
    async with states.bounded(Store.POSTGRESQL, 1.0, _is_connection_error):
        await asyncio.sleep(0)
    assert not states.known_down(Store.POSTGRESQL)


async def test_the_callers_deadline_shortens_the_bound_and_does_not_blame_the_store():
    states = StoreStates(open_seconds=60.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with within(0.05), pytest.raises(TimeoutError):
        async with states.bounded(Store.REDIS, 10.0, _is_connection_error):
            await asyncio.sleep(5)
    assert loop.time() - started < 5  # cut by the deadline, not by the 10 s bound
    assert not states.known_down(Store.REDIS)
