"""A command's bound: the deadline, what it says of Redis, and a write to a closed connection.

On uvloop that write raises RuntimeError; unread, it would end a consumer
(whose client has no call bound) instead of sending it into its back-off.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from app.adapters.redis.bounded_client import CallBound
from app.adapters.store_states import StoreStates
from app.domain.deadlines import within
from app.domain.errors import Store


async def test_an_unbounded_clients_closed_write_is_a_connection_error():
    with pytest.raises(RedisConnectionError) as raised:
        async with CallBound(1.0, None).around():
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")
    assert isinstance(raised.value.__cause__, RuntimeError)


async def test_a_bounded_clients_closed_write_is_a_connection_error_that_marks_redis_down():
    states = StoreStates(open_seconds=60.0)
    with pytest.raises(RedisConnectionError):
        async with CallBound(1.0, states).around():
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")
    assert states.known_down(Store.REDIS)


async def test_other_errors_pass_through_an_unbounded_client_unchanged():
    with pytest.raises(ValueError, match="not a transport"):
        async with CallBound(1.0, None).around():
            raise ValueError("not a transport")


async def test_a_command_that_outlives_its_bound_times_out_and_marks_redis_down():
    states = StoreStates(open_seconds=60.0)
    with pytest.raises(TimeoutError):
        async with CallBound(0.05, states).around():
            await asyncio.sleep(5)
    assert states.known_down(Store.REDIS)


async def test_the_callers_deadline_shortens_a_commands_bound_and_does_not_blame_redis():
    states = StoreStates(open_seconds=60.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with within(0.05), pytest.raises(TimeoutError):
        async with CallBound(10.0, states).around():
            await asyncio.sleep(5)
    assert loop.time() - started < 5  # cut by the deadline, not by the 10 s bound
    assert not states.known_down(Store.REDIS)


@pytest.mark.parametrize(
    ("error", "marks_down"),
    [(RedisConnectionError("refused"), True), (ResponseError("WRONGTYPE"), False)],
)
async def test_a_failed_command_marks_redis_down_only_if_redis_did_not_answer(
    error: Exception, marks_down: bool
) -> None:
    states = StoreStates(open_seconds=60.0)
    with pytest.raises(type(error)):
        async with CallBound(1.0, states).around():
            raise error
    assert states.known_down(Store.REDIS) is marks_down


async def test_an_answered_command_marks_redis_up():
    states = StoreStates(open_seconds=60.0)
    states.failed(Store.REDIS)
    async with CallBound(1.0, states).around():
        await asyncio.sleep(0)
    assert not states.known_down(Store.REDIS)
