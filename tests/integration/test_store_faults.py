"""A store that refuses a command as wrong (a bug of ours) answers INTERNAL, not UNAVAILABLE.

The caller is told only "internal error"; the log names the store and the
library's error with its traceback; Redis stays in service for every other
call (the fail-fast breaker is for outages, not for bugs). An outage still
answers UNAVAILABLE: ``test_outages.py``.
"""

from __future__ import annotations

import grpc
import pytest

from app.adapters.redis.errors import redis_errors
from app.adapters.redis.sessions import digest_of
from app.domain.errors import Store, StoreFault
from app.grpc.errors import INTERNAL_MESSAGE
from tests.support.client import failure, get_me, registered_session
from tests.support.logs import captured_logs


async def test_a_session_key_of_the_wrong_type_answers_internal_and_redis_stays_in_service(
    application, stub, redis
):
    _, session_id = await registered_session(stub)
    key = f"{application.settings.redis.key_prefix}session:{digest_of(session_id)}"
    await redis.delete(key)
    await redis.rpush(key, "not a session")

    with captured_logs() as logs:
        error = await failure(get_me(stub, session_id))

    assert (error.code(), error.details()) == (grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
    [line] = logs.events("store refused a command")
    assert (line["store"], line["error"], line["level"]) == ("redis", "ResponseError", "error")
    assert "WRONGTYPE" in line["exception"]
    assert not application.resources.states.known_down(Store.REDIS)
    # Other callers are not failed fast: logging in and reading a session still work.
    _, other_session = await registered_session(stub)
    assert (await get_me(stub, other_session)).user.email
    await redis.delete(key)


async def test_a_script_that_fails_is_a_fault_and_the_breaker_stays_closed(application):
    with pytest.raises(StoreFault) as raised, redis_errors():
        await application.redis.eval("return redis.call('NO_SUCH_COMMAND')", 0)
    assert (raised.value.store, raised.value.reason) == (Store.REDIS, "ResponseError")
    assert not application.resources.states.known_down(Store.REDIS)
    assert await application.redis.ping()
