"""A write to a connection Redis closed reads as the connection error it is, bounded or not.

On uvloop such a write raises RuntimeError; unread, it would end a consumer
(whose client has no call bound) instead of sending it into its back-off.
"""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app.adapters.redis.bounded_client import CallBound
from app.adapters.store_states import StoreStates
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
