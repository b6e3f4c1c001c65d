"""Session records, lifetimes, the per-user cap, and the caller's session RPCs."""

# ruff: noqa: F811 (the fixtures imported from redis_deployments are the tests' parameters)

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.client import (
    failure,
    get_me,
    is_unauthenticated,
    login,
    other_session_handle,
    register,
    registered_session,
    session_metadata,
    unique_email,
)
from tests.support.events import revocations
from tests.support.redis_deployments import (  # noqa: F401 (fixtures: one node and a cluster)
    application,
    channel,
    make_application,
    redis,
    redis_sections,
    session_key,
    session_keys,
    stub,
)


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def _sessions_of(port: int, email: str, count: int) -> list[str]:
    """``count`` sessions of the user, oldest first, each from a client with its own user
    agent (``agent-<n>``; gRPC sets it per channel and appends its own name).
    """
    ids = []
    for n in range(count):
        options = [("grpc.primary_user_agent", f"agent-{n}")]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            _, session_id = await login(pb_grpc.UserServiceStub(channel), email)
        ids.append(session_id)
    return ids


async def test_list_sessions_shows_the_callers_sessions_newest_first_with_the_current_marked(
    stub, application
):
    email = unique_email("list")
    await register(stub, email)
    ids = await _sessions_of(application.port, email, 3)
    response = await stub.ListSessions(pb.ListSessionsRequest(), metadata=session_metadata(ids[1]))
    sessions = list(response.sessions)
    assert [s.user_agent.split()[0] for s in sessions] == ["agent-2", "agent-1", "agent-0"]
    assert [s.current for s in sessions] == [False, True, False]
    for session in sessions:
        assert re.fullmatch(r"[0-9a-f]{32}", session.handle)
        assert session.client_address == "127.0.0.1"
        created, seen = session.created_at.ToDatetime(), session.last_seen.ToDatetime()
        assert created <= seen < session.expires_at.ToDatetime()
    assert len({s.handle for s in sessions}) == 3
    # The handle is not the id, and no id is anywhere in the answer.
    assert not any(session_id in str(response) for session_id in ids)


async def test_list_sessions_shows_only_the_callers_own(stub):
    _, mine = await registered_session(stub)
    await registered_session(stub)
    response = await stub.ListSessions(pb.ListSessionsRequest(), metadata=session_metadata(mine))
    assert len(response.sessions) == 1


async def test_revoke_session_ends_one_session_by_its_handle(stub, application, redis, settings):
    email = unique_email("revoke")
    user = await register(stub, email)
    first, second = await _sessions_of(application.port, email, 2)
    other = await other_session_handle(stub, first)
    await stub.RevokeSession(
        pb.RevokeSessionRequest(handle=other), metadata=session_metadata(first)
    )
    assert await is_unauthenticated(get_me(stub, second))
    assert (await get_me(stub, first)).user.uuid == user.uuid
    assert await revocations(redis, settings, user.uuid) == [
        {
            "handle": other,
            "reason": "revoked",
            "actor_id": user.uuid,
            "source_address": "127.0.0.0/24",
        }
    ]
    # Revoking it again: nothing has that handle any more.
    again = await failure(
        stub.RevokeSession(pb.RevokeSessionRequest(handle=other), metadata=session_metadata(first))
    )
    assert again.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("handle", "code"),
    [
        ("not-a-handle", grpc.StatusCode.INVALID_ARGUMENT),
        ("", grpc.StatusCode.INVALID_ARGUMENT),
        ("0" * 33, grpc.StatusCode.INVALID_ARGUMENT),
        ("0" * 32, grpc.StatusCode.NOT_FOUND),
    ],
    ids=["malformed", "empty", "too-long", "unknown"],
)
async def test_bad_or_unknown_handles_are_invalid_argument_or_not_found(stub, handle, code):
    _, session_id = await registered_session(stub)
    error = await failure(
        stub.RevokeSession(
            pb.RevokeSessionRequest(handle=handle), metadata=session_metadata(session_id)
        )
    )
    assert error.code() == code


async def test_another_users_handle_is_not_found_and_their_session_lives(stub):
    _, mine = await registered_session(stub)
    _, theirs = await registered_session(stub)
    listed = await stub.ListSessions(pb.ListSessionsRequest(), metadata=session_metadata(theirs))
    handle = listed.sessions[0].handle
    error = await failure(
        stub.RevokeSession(pb.RevokeSessionRequest(handle=handle), metadata=session_metadata(mine))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    await get_me(stub, theirs)


async def test_logout_others_keeps_only_the_current_session(stub, application, redis, settings):
    email = unique_email("others")
    user = await register(stub, email)
    ids = await _sessions_of(application.port, email, 3)
    response = await stub.LogoutOthers(pb.LogoutOthersRequest(), metadata=session_metadata(ids[0]))
    assert response.ended == 2
    await get_me(stub, ids[0])
    for ended in ids[1:]:
        assert await is_unauthenticated(get_me(stub, ended))
    reasons = [event["reason"] for event in await revocations(redis, settings, user.uuid)]
    assert reasons == ["logout", "logout"]


async def test_logout_all_ends_every_session_including_the_current_one(stub, application):
    email = unique_email("all")
    await register(stub, email)
    ids = await _sessions_of(application.port, email, 3)
    response = await stub.LogoutAll(pb.LogoutAllRequest(), metadata=session_metadata(ids[2]))
    assert response.ended == 3
    for session_id in ids:
        assert await is_unauthenticated(get_me(stub, session_id))


@pytest.mark.parametrize(
    "call",
    [
        lambda stub, md: stub.ListSessions(pb.ListSessionsRequest(), metadata=md),
        lambda stub, md: stub.RevokeSession(pb.RevokeSessionRequest(handle="0" * 32), metadata=md),
        lambda stub, md: stub.LogoutOthers(pb.LogoutOthersRequest(), metadata=md),
        lambda stub, md: stub.LogoutAll(pb.LogoutAllRequest(), metadata=md),
    ],
    ids=["ListSessions", "RevokeSession", "LogoutOthers", "LogoutAll"],
)
async def test_session_rpcs_need_a_valid_session(stub, call):
    assert await is_unauthenticated(call(stub, None))
    assert await is_unauthenticated(call(stub, session_metadata("forged")))


async def test_a_busy_session_ends_at_its_absolute_lifetime(make_application, redis):
    application = await make_application(
        sessions={"ttl_seconds": 60, "absolute_lifetime_seconds": 2}
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        _, session_id = await registered_session(stub)
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Used every 0.3 s, far inside the idle timeout, until it ends (bounded).
        while loop.time() - started < 10:
            try:
                await get_me(stub, session_id)
            except grpc.aio.AioRpcError:
                break
            await asyncio.sleep(0.3)
        assert loop.time() - started >= 1.5
        assert await is_unauthenticated(get_me(stub, session_id))
        # Its key's TTL never reaches past the lifetime either.
        key = session_key(application.settings, session_id)
        assert await redis.exists(key) == 0


async def test_a_session_found_past_its_lifetime_is_ended_with_its_event(make_application, redis):
    application = await make_application(
        sessions={"ttl_seconds": 60, "absolute_lifetime_seconds": 1}
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        user, session_id = await registered_session(stub)
        # Keep the key alive past its lifetime: only the lifetime check can end it now.
        key = session_key(application.settings, session_id)
        await redis.persist(key)
        await asyncio.sleep(1.2)
        assert await is_unauthenticated(get_me(stub, session_id))
        assert await redis.exists(key) == 0
        [event] = await revocations(redis, application.settings, user.uuid)
        assert event["reason"] == "lifetime"


async def test_the_oldest_sessions_end_beyond_the_per_user_cap(make_application, redis):
    application = await make_application(sessions={"max_per_user": 3})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        email = unique_email("cap")
        user = await register(stub, email)
        ids = await _sessions_of(application.port, email, 5)
        for capped in ids[:2]:
            assert await is_unauthenticated(get_me(stub, capped))
        for live in ids[2:]:
            await get_me(stub, live)
        listed = await stub.ListSessions(
            pb.ListSessionsRequest(), metadata=session_metadata(ids[4])
        )
        assert [s.user_agent.split()[0] for s in listed.sessions] == [
            "agent-4",
            "agent-3",
            "agent-2",
        ]
        reasons = await revocations(redis, application.settings, user.uuid)
        assert [event["reason"] for event in reasons] == ["cap", "cap"]


async def test_the_index_drops_sessions_that_idled_out(stub, application, redis, settings):
    email = unique_email("index")
    user = await register(stub, email)
    first, _ = await _sessions_of(application.port, email, 2)
    prefix = settings.redis.key_prefix
    index = session_keys(application.settings).index(uuid.UUID(user.uuid))
    assert await redis.zcard(index) == 2
    # The first session idles out (its key expires) ...
    listed = await stub.ListSessions(pb.ListSessionsRequest(), metadata=session_metadata(first))
    assert len(listed.sessions) == 2
    for key in [k async for k in redis.scan_iter(match=f"{prefix}session:*")]:
        if (await redis.hget(key, "user_id")).decode() == user.uuid and (
            await redis.hget(key, "user_agent")
        ).decode().startswith("agent-0"):
            await redis.delete(key)
    # ... and the next login sweeps it from the index.
    await login(stub, email)
    assert await redis.zcard(index) == 2
