"""Admin RPCs, ChangePassword and the last-admin rule, through the real service."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from app.bootstrap import build_application
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.application import RUN_ID, use_cases_of
from tests.support.client import (
    PASSWORD,
    admin_session,
    failure,
    get_me,
    is_unauthenticated,
    login,
    register,
    registered_session,
    session_metadata,
    unique_email,
)
from tests.support.events import revocations
from tests.support.isolation import isolated_settings, remove_run_data
from tests.support.passwords import cheap_passwords_for

NEW_PASSWORD = "a brand new passphrase"


async def _outbox_types(application, user_id: str) -> list[str]:
    rows = await application.pool.fetch(
        "SELECT event_type FROM event_outbox WHERE user_id = $1 ORDER BY id", uuid.UUID(user_id)
    )
    return [row["event_type"] for row in rows]


@pytest.fixture
async def admin(stub, application) -> tuple[tuple[str, str], ...]:
    _, session_id = await admin_session(stub, use_cases_of(application).accounts)
    return session_metadata(session_id)


async def test_set_user_role_changes_the_role_its_event_and_the_cached_copy(
    stub, application, admin
):
    user = await register(stub)
    # FindByID caches the user ...
    await stub.FindByID(pb.FindByIDRequest(uuid=user.uuid), metadata=admin)
    changed = await stub.SetUserRole(
        pb.SetUserRoleRequest(uuid=user.uuid, role="admin"), metadata=admin
    )
    assert changed.user.role == "admin"
    # ... and the change drops it: the next read has the new role.
    found = await stub.FindByID(pb.FindByIDRequest(uuid=user.uuid), metadata=admin)
    assert found.user.role == "admin"
    assert await _outbox_types(application, user.uuid) == ["user.registered", "user.role_changed"]
    # The same role again changes nothing and says nothing.
    await stub.SetUserRole(pb.SetUserRoleRequest(uuid=user.uuid, role="ADMIN"), metadata=admin)
    assert await _outbox_types(application, user.uuid) == ["user.registered", "user.role_changed"]


@pytest.mark.parametrize(
    ("request_fields", "code"),
    [
        ({"uuid": "not-a-uuid", "role": "user"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"uuid": "", "role": "user"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"uuid": str(uuid.uuid4()), "role": "root"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"uuid": str(uuid.uuid4()), "role": ""}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"uuid": str(uuid.uuid4()), "role": "user"}, grpc.StatusCode.NOT_FOUND),
    ],
    ids=["bad-uuid", "no-uuid", "bad-role", "no-role", "unknown-user"],
)
async def test_set_user_role_with_bad_input_has_a_clear_code(stub, admin, request_fields, code):
    error = await failure(stub.SetUserRole(pb.SetUserRoleRequest(**request_fields), metadata=admin))
    assert error.code() == code


@pytest.mark.parametrize("rpc", ["DisableUser", "EnableUser", "RevokeUserSessions"])
@pytest.mark.parametrize(
    ("raw", "code"),
    [("nope", grpc.StatusCode.INVALID_ARGUMENT), (str(uuid.uuid4()), grpc.StatusCode.NOT_FOUND)],
    ids=["bad-uuid", "unknown-user"],
)
async def test_admin_rpcs_on_bad_or_unknown_uuids(stub, admin, rpc, raw, code):
    request = getattr(pb, f"{rpc}Request")(uuid=raw)
    assert (await failure(getattr(stub, rpc)(request, metadata=admin))).code() == code


async def test_admin_rpcs_need_an_admin(stub):
    target = await register(stub)
    _, session_id = await registered_session(stub)
    for metadata in (session_metadata(session_id),):
        error = await failure(
            stub.DisableUser(pb.DisableUserRequest(uuid=target.uuid), metadata=metadata)
        )
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await is_unauthenticated(stub.DisableUser(pb.DisableUserRequest(uuid=target.uuid)))


async def test_disable_ends_every_session_and_refuses_login_like_a_wrong_password(
    stub, application, admin, redis, settings
):
    email = unique_email("disabled")
    user = await register(stub, email)
    sessions = [(await login(stub, email))[1] for _ in range(2)]
    await stub.DisableUser(pb.DisableUserRequest(uuid=user.uuid), metadata=admin)
    for session_id in sessions:
        assert await is_unauthenticated(get_me(stub, session_id))
    refused = await failure(login(stub, email))
    wrong = await failure(login(stub, unique_email("nobody")))
    assert (refused.code(), refused.details()) == (wrong.code(), wrong.details())
    assert [e["reason"] for e in await revocations(redis, settings, user.uuid)] == [
        "disabled",
        "disabled",
    ]
    reason = await application.pool.fetchval(
        "SELECT data->>'reason' FROM event_outbox WHERE user_id = $1"
        " AND event_type = 'user.login_failed'",
        uuid.UUID(user.uuid),
    )
    assert reason == "disabled"
    # Enabled again: a new login works, the old sessions stay ended.
    await stub.EnableUser(pb.EnableUserRequest(uuid=user.uuid), metadata=admin)
    _, fresh = await login(stub, email)
    await get_me(stub, fresh)
    assert await is_unauthenticated(get_me(stub, sessions[0]))
    types = await _outbox_types(application, user.uuid)
    assert types[0] == "user.registered"
    assert types[1:] == ["user.disabled", "user.login_failed", "user.enabled"]


async def test_revoke_user_sessions_ends_them_all_and_a_new_login_works(
    stub, admin, redis, settings
):
    email = unique_email("revoked")
    user = await register(stub, email)
    sessions = [(await login(stub, email))[1] for _ in range(3)]
    response = await stub.RevokeUserSessions(
        pb.RevokeUserSessionsRequest(uuid=user.uuid), metadata=admin
    )
    assert response.ended == 3
    for session_id in sessions:
        assert await is_unauthenticated(get_me(stub, session_id))
    assert [e["reason"] for e in await revocations(redis, settings, user.uuid)] == ["revoked"] * 3
    _, fresh = await login(stub, email)
    await get_me(stub, fresh)


async def test_change_password_keeps_this_session_and_ends_the_others(
    stub, application, redis, settings
):
    email = unique_email("password")
    user = await register(stub, email)
    current, other = [(await login(stub, email))[1] for _ in range(2)]
    await stub.ChangePassword(
        pb.ChangePasswordRequest(current_password=PASSWORD, new_password=NEW_PASSWORD),
        metadata=session_metadata(current),
    )
    await get_me(stub, current)
    assert await is_unauthenticated(get_me(stub, other))
    assert [e["reason"] for e in await revocations(redis, settings, user.uuid)] == [
        "password_change"
    ]
    assert (await failure(login(stub, email))).code() == grpc.StatusCode.UNAUTHENTICATED
    await login(stub, email, NEW_PASSWORD)
    rows = await application.pool.fetch(
        "SELECT event_type, data::text AS data FROM event_outbox WHERE user_id = $1",
        uuid.UUID(user.uuid),
    )
    assert "user.password_changed" in [row["event_type"] for row in rows]
    assert not any(PASSWORD in row["data"] or NEW_PASSWORD in row["data"] for row in rows)


@pytest.mark.parametrize(
    ("current", "new", "code"),
    [
        ("not the password", NEW_PASSWORD, grpc.StatusCode.UNAUTHENTICATED),
        (PASSWORD, "short", grpc.StatusCode.INVALID_ARGUMENT),
        (PASSWORD, "x" * 129, grpc.StatusCode.INVALID_ARGUMENT),
    ],
    ids=["wrong-current", "too-short", "too-long"],
)
async def test_change_password_refusals_change_nothing(stub, current, new, code):
    email = unique_email("refused")
    await register(stub, email)
    _, session_id = await login(stub, email)
    _, other = await login(stub, email)
    error = await failure(
        stub.ChangePassword(
            pb.ChangePasswordRequest(current_password=current, new_password=new),
            metadata=session_metadata(session_id),
        )
    )
    assert error.code() == code
    await get_me(stub, other)
    await login(stub, email)


async def test_change_password_needs_a_session(stub):
    request = pb.ChangePasswordRequest(current_password=PASSWORD, new_password=NEW_PASSWORD)
    assert await is_unauthenticated(stub.ChangePassword(request))


async def test_the_last_active_admin_cannot_demote_or_disable_itself():
    """On a database of its own, where the admins are known."""
    settings = isolated_settings("lastadmin", RUN_ID)
    application = await build_application(settings, passwords=cheap_passwords_for(settings))
    await application.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            stub = pb_grpc.UserServiceStub(channel)
            only, session_id = await admin_session(stub, use_cases_of(application).accounts)
            metadata = session_metadata(session_id)
            for call in (
                stub.SetUserRole(
                    pb.SetUserRoleRequest(uuid=only.uuid, role="user"), metadata=metadata
                ),
                stub.DisableUser(pb.DisableUserRequest(uuid=only.uuid), metadata=metadata),
            ):
                error = await failure(call)
                assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert (await get_me(stub, session_id)).user.role == "admin"
            # Two admins demoting themselves at once: exactly one may.
            second, second_session = await admin_session(stub, use_cases_of(application).accounts)
            results = await asyncio.gather(
                *(
                    stub.SetUserRole(
                        pb.SetUserRoleRequest(uuid=user.uuid, role="user"),
                        metadata=session_metadata(session),
                    )
                    for user, session in ((only, session_id), (second, second_session))
                ),
                return_exceptions=True,
            )
            refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
            assert len(refused) == 1
            assert refused[0].code() == grpc.StatusCode.FAILED_PRECONDITION
            admins = await application.pool.fetchval(
                "SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'"
            )
            assert admins == 1
    finally:
        await application.stop(grace=0.5)
        await remove_run_data(settings)
