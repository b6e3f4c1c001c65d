"""Races through the real service: no session survives what should have ended it.

Each race is run a bounded number of rounds with the racing calls started
together, so the interleavings differ from round to round.
"""

# ruff: noqa: F811 (the fixtures imported from redis_deployments are the tests' parameters)

from __future__ import annotations

import asyncio

import grpc

from app.grpc.generated import user_service_pb2 as pb
from tests.support.application import use_cases_of
from tests.support.client import (
    PASSWORD,
    admin_session,
    get_me,
    is_unauthenticated,
    login,
    other_session_handle,
    register,
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

ROUNDS = 5


async def _logins(stub, email: str, count: int) -> list[str]:
    """Session ids of the logins that succeeded out of ``count`` started together."""
    results = await asyncio.gather(
        *(login(stub, email) for _ in range(count)), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            assert isinstance(result, grpc.aio.AioRpcError), result
            assert result.code() == grpc.StatusCode.UNAUTHENTICATED
    return [result[1] for result in results if not isinstance(result, BaseException)]


async def test_two_logout_alls_end_each_session_exactly_once(stub, redis, settings):
    for _ in range(ROUNDS):
        email = unique_email("logout-all")
        user = await register(stub, email)
        sessions = [(await login(stub, email))[1] for _ in range(4)]
        first, second = await asyncio.gather(
            *(
                stub.LogoutAll(pb.LogoutAllRequest(), metadata=session_metadata(session))
                for session in sessions[:2]
            ),
            return_exceptions=True,
        )
        ended = sum(r.ended for r in (first, second) if isinstance(r, pb.LogoutAllResponse))
        assert ended == 4
        for session_id in sessions:
            assert await is_unauthenticated(get_me(stub, session_id))
        handles = [e["handle"] for e in await revocations(redis, settings, user.uuid)]
        assert len(handles) == len(set(handles)) == 4


async def test_a_login_racing_disable_user_leaves_no_session(stub, application):
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    for _ in range(ROUNDS):
        email = unique_email("login-vs-disable")
        user = await register(stub, email)
        disable = stub.DisableUser(
            pb.DisableUserRequest(uuid=user.uuid), metadata=session_metadata(admin)
        )
        sessions, _ = await asyncio.gather(_logins(stub, email, 4), disable)
        for session_id in sessions:
            assert await is_unauthenticated(get_me(stub, session_id))


async def test_a_login_racing_revoke_user_sessions_leaves_no_older_session(stub, application):
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    for _ in range(ROUNDS):
        email = unique_email("login-vs-revoke")
        user = await register(stub, email)
        before = [(await login(stub, email))[1] for _ in range(2)]
        revoke = stub.RevokeUserSessions(
            pb.RevokeUserSessionsRequest(uuid=user.uuid), metadata=session_metadata(admin)
        )
        await asyncio.gather(_logins(stub, email, 3), revoke)
        for session_id in before:
            assert await is_unauthenticated(get_me(stub, session_id))


async def test_a_login_racing_change_password_keeps_only_the_changing_session(stub):
    for _ in range(ROUNDS):
        email = unique_email("login-vs-password")
        await register(stub, email)
        _, current = await login(stub, email)
        change = stub.ChangePassword(
            pb.ChangePasswordRequest(current_password=PASSWORD, new_password="new passphrase!"),
            metadata=session_metadata(current),
        )
        racing, _ = await asyncio.gather(_logins(stub, email, 3), change)
        await get_me(stub, current)
        for session_id in racing:
            assert await is_unauthenticated(get_me(stub, session_id))


async def test_a_revoke_racing_get_me_ends_the_session_once(stub, redis, settings, application):
    for _ in range(ROUNDS):
        email = unique_email("revoke-vs-getme")
        user = await register(stub, email)
        _, keeper = await login(stub, email)
        _, victim = await login(stub, email)
        handle = await other_session_handle(stub, keeper)
        revoke = stub.RevokeSession(
            pb.RevokeSessionRequest(handle=handle), metadata=session_metadata(keeper)
        )
        await asyncio.gather(
            revoke, *(get_me(stub, victim) for _ in range(5)), return_exceptions=True
        )
        assert await is_unauthenticated(get_me(stub, victim))
        assert [e["handle"] for e in await revocations(redis, settings, user.uuid)] == [handle]
