"""Authorization from the source of truth: the review's cases, and who may read whom."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import use_cases_of
from tests.support.client import (
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


async def _register_admin_code(stub, session_id: str) -> grpc.StatusCode:
    try:
        await register(stub, role="admin", metadata=session_metadata(session_id))
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_an_admin_demoted_through_the_service_loses_admin_rights_at_once(stub, application):
    demoted, demoted_session = await admin_session(stub, use_cases_of(application).accounts)
    _, other_admin = await admin_session(stub, use_cases_of(application).accounts)
    assert await _register_admin_code(stub, demoted_session) == grpc.StatusCode.OK
    await stub.SetUserRole(
        pb.SetUserRoleRequest(uuid=demoted.uuid, role="user"),
        metadata=session_metadata(other_admin),
    )
    assert await _register_admin_code(stub, demoted_session) == grpc.StatusCode.PERMISSION_DENIED
    assert (await get_me(stub, demoted_session)).user.role == "user"


@dataclass
class ShortBound:
    """A service whose principals are trusted for 1 s, and an admin's session on it."""

    application: Application
    stub: pb_grpc.UserServiceAsyncStub
    admin: pb.User
    session_id: str

    async def change_directly(self, statement: str) -> None:
        """Run ``statement`` (with the admin's id as $1) in SQL, then outwait the bound."""
        await self.application.pool.execute(statement, uuid.UUID(self.admin.uuid))
        await asyncio.sleep(1.1)


@pytest.fixture
async def short_bound(make_application) -> AsyncIterator[ShortBound]:
    application = await make_application(sessions={"user_refresh_seconds": 1})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        admin, session_id = await admin_session(stub, use_cases_of(application).accounts)
        yield ShortBound(application, stub, admin, session_id)


async def test_a_demotion_in_the_database_is_honoured_within_the_refresh_bound(short_bound):
    stub, session_id = short_bound.stub, short_bound.session_id
    await short_bound.change_directly("UPDATE users SET role = 'user' WHERE id = $1")
    assert await _register_admin_code(stub, session_id) == grpc.StatusCode.PERMISSION_DENIED
    assert (await get_me(stub, session_id)).user.role == "user"


async def test_a_user_deleted_in_the_database_loses_every_session_within_the_bound(short_bound):
    stub, session_id, admin = short_bound.stub, short_bound.session_id, short_bound.admin
    _, second_session = await login(stub, admin.email)
    await short_bound.change_directly("DELETE FROM users WHERE id = $1")
    # One answer for one user: the session is over, whatever is asked with it.
    assert await is_unauthenticated(get_me(stub, session_id))
    assert await is_unauthenticated(get_me(stub, second_session))
    metadata = session_metadata(session_id)
    assert await is_unauthenticated(register(stub, role="admin", metadata=metadata))
    assert await is_unauthenticated(
        stub.FindByID(pb.FindByIDRequest(uuid=admin.uuid), metadata=metadata)
    )
    assert await is_unauthenticated(
        stub.FindByEmail(pb.FindByEmailRequest(email=admin.email), metadata=metadata)
    )


async def test_get_me_returns_the_user_as_changed_through_the_service(stub, application):
    user, session_id = await registered_session(stub)
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    await stub.SetUserRole(
        pb.SetUserRoleRequest(uuid=user.uuid, role="service"), metadata=session_metadata(admin)
    )
    assert (await get_me(stub, session_id)).user.role == "service"


# Who may read whom.


async def test_anyone_may_read_their_own_record_by_email_and_by_id(stub):
    user, session_id = await registered_session(stub)
    metadata = session_metadata(session_id)
    by_email = await stub.FindByEmail(
        pb.FindByEmailRequest(email=user.email.upper()), metadata=metadata
    )
    by_id = await stub.FindByID(pb.FindByIDRequest(uuid=user.uuid), metadata=metadata)
    assert by_email.user.uuid == by_id.user.uuid == user.uuid


@pytest.mark.parametrize("target", ["existing", "unknown"])
async def test_a_plain_user_may_not_read_anyone_else_known_or_not(stub, target):
    _, session_id = await registered_session(stub)
    metadata = session_metadata(session_id)
    other = await register(stub) if target == "existing" else None
    email = other.email if other else unique_email("nobody")
    user_id = other.uuid if other else str(uuid.uuid4())
    by_email = await failure(
        stub.FindByEmail(pb.FindByEmailRequest(email=email), metadata=metadata)
    )
    by_id = await failure(stub.FindByID(pb.FindByIDRequest(uuid=user_id), metadata=metadata))
    # The same answer whether the address is registered or not: no oracle.
    assert by_email.code() == by_id.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("role", ["admin", "service"])
async def test_admins_and_service_callers_may_read_anyone(stub, application, role):
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    caller_email = unique_email(role)
    await register(stub, caller_email, role=role, metadata=session_metadata(admin))
    _, session_id = await login(stub, caller_email)
    other = await register(stub)
    metadata = session_metadata(session_id)
    found = await stub.FindByEmail(pb.FindByEmailRequest(email=other.email), metadata=metadata)
    assert found.user.uuid == other.uuid
    found = await stub.FindByID(pb.FindByIDRequest(uuid=other.uuid), metadata=metadata)
    assert found.user.email == other.email


async def test_only_an_admin_may_register_a_service_caller(stub):
    _, session_id = await registered_session(stub)
    for metadata in (None, session_metadata(session_id)):
        error = await failure(register(stub, role="service", metadata=metadata))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_service_caller_may_not_use_admin_rpcs(stub, application):
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    email = unique_email("service")
    await register(stub, email, role="service", metadata=session_metadata(admin))
    _, session_id = await login(stub, email)
    target = await register(stub)
    metadata = session_metadata(session_id)
    for call in (
        stub.SetUserRole(pb.SetUserRoleRequest(uuid=target.uuid, role="admin"), metadata=metadata),
        stub.DisableUser(pb.DisableUserRequest(uuid=target.uuid), metadata=metadata),
        stub.EnableUser(pb.EnableUserRequest(uuid=target.uuid), metadata=metadata),
        stub.RevokeUserSessions(pb.RevokeUserSessionsRequest(uuid=target.uuid), metadata=metadata),
        register(stub, role="admin", metadata=metadata),
    ):
        assert (await failure(call)).code() == grpc.StatusCode.PERMISSION_DENIED
