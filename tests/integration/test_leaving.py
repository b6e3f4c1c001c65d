"""DeleteAccount and DeleteUser through the real service: erasure, sessions, authorization."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from app.adapters.postgres.audit_log import AuditLogPgRepository
from app.adapters.postgres.event_rows import event_from_row
from app.bootstrap import build_application
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
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
from tests.support.isolation import isolated_settings, remove_run_data
from tests.support.passwords import cheap_passwords_for

LOOPBACK_NETWORK = "127.0.0.0/24"


async def _events_of(application: Application, user_id: str):
    rows = await application.pool.fetch(
        "SELECT * FROM event_outbox WHERE user_id = $1 ORDER BY id", uuid.UUID(user_id)
    )
    return [event_from_row(row) for row in rows]


async def _rows_holding(application: Application, text: str) -> list[str]:
    """The tables and rows of PostgreSQL's users, outbox and audit log that hold ``text``."""
    found = []
    for table in ("users", "event_outbox", "user_audit_log"):
        rows = await application.pool.fetch(
            f"SELECT t::text AS row FROM {table} AS t WHERE strpos(t::text, $1) > 0", text
        )
        found += [f"{table}: {row['row']}" for row in rows]
    return found


async def test_delete_user_erases_the_person_and_ends_every_session(
    stub, application, redis, settings
):
    accounts = use_cases_of(application).accounts
    _, admin_id = await admin_session(stub, accounts)
    admin = session_metadata(admin_id)
    marker = uuid.uuid4().hex[:10]
    email = unique_email(f"leaver{marker}")
    first, last, avatar = f"Zelda{marker}", f"Quokka{marker}", f"https://img.example/{marker}.png"
    user = await register(stub, email, first_name=first, last_name=last, avatar=avatar)
    _, session_id = await login(stub, email)
    _, other_session = await login(stub, email)
    await failure(login(stub, email, "not the password"))  # user.login_failed, with the email
    me = session_metadata(session_id)
    renamed = pb.UpdateProfileRequest(user=pb.User(last_name=f"{last}x"))
    await stub.UpdateProfile(renamed, metadata=me)  # with the user's network
    await stub.LogoutOthers(pb.LogoutOthersRequest(), metadata=me)
    # The audit worker has recorded what happened so far.
    audit = AuditLogPgRepository(application.pool)
    before = await _events_of(application, user.uuid)
    await audit.record(before)
    await stub.FindByID(pb.FindByIDRequest(uuid=user.uuid), metadata=admin)  # cached
    assert await _rows_holding(application, email)

    await stub.DeleteUser(pb.DeleteUserRequest(uuid=user.uuid), metadata=admin)

    for personal in (email, first, last, avatar, marker):
        assert await _rows_holding(application, personal) == [], personal
    # The user's network is gone; the admin's, in user.deleted, is the admin's.
    networks = await _rows_holding(application, LOOPBACK_NETWORK)
    assert [row for row in networks if user.uuid in row and "user.deleted" not in row] == []
    types = [event.type.value for event in await _events_of(application, user.uuid)]
    assert types == [event.type.value for event in before] + ["user.deleted"]
    audit_rows = await application.pool.fetch(
        "SELECT event_type, source_address FROM user_audit_log WHERE user_id = $1",
        uuid.UUID(user.uuid),
    )
    assert len(audit_rows) == len(before)
    assert {row["source_address"] for row in audit_rows} == {None}
    # Every session ends; the principal holds nothing personal; the cached copy is gone.
    for session in (session_id, other_session):
        assert await is_unauthenticated(get_me(stub, session))
    prefix = settings.redis.key_prefix
    principal = await redis.hgetall(f"{prefix}principal:{user.uuid}")
    assert marker.encode() not in b"".join(principal.values())
    assert await redis.exists(f"{prefix}user:{user.uuid}") == 0
    error = await failure(stub.FindByID(pb.FindByIDRequest(uuid=user.uuid), metadata=admin))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    # The address is free again: a new user, who logs in.
    again = await register(stub, email)
    assert again.uuid != user.uuid
    await login(stub, email)


async def test_events_recorded_after_the_deletion_are_erased_with_it(stub, application):
    """Events still in the stream at the deletion reach the audit log afterwards."""
    _, admin_id = await admin_session(stub, use_cases_of(application).accounts)
    email = unique_email("late")
    user = await register(stub, email)
    before = await _events_of(application, user.uuid)
    await stub.DeleteUser(pb.DeleteUserRequest(uuid=user.uuid), metadata=session_metadata(admin_id))
    known = {event.id for event in before}
    [deleted] = [e for e in await _events_of(application, user.uuid) if e.id not in known]
    assert deleted.type.value == "user.deleted"
    assert set(deleted.data) == {"actor_id", "source_address"}
    await AuditLogPgRepository(application.pool).record([*before, deleted])
    assert await _rows_holding(application, email) == []


async def test_an_admins_network_is_erased_from_what_it_did_to_others(stub, application):
    accounts = use_cases_of(application).accounts
    leaving, leaving_session = await admin_session(stub, accounts)
    _, other_admin = await admin_session(stub, accounts)
    victim = await register(stub)
    await stub.DisableUser(
        pb.DisableUserRequest(uuid=victim.uuid), metadata=session_metadata(leaving_session)
    )
    await AuditLogPgRepository(application.pool).record(await _events_of(application, victim.uuid))
    await stub.DeleteUser(
        pb.DeleteUserRequest(uuid=leaving.uuid), metadata=session_metadata(other_admin)
    )
    [disabled] = [
        e for e in await _events_of(application, victim.uuid) if e.type.value == "user.disabled"
    ]
    assert dict(disabled.data) == {"actor_id": leaving.uuid}
    row = await application.pool.fetchrow(
        "SELECT actor_id, source_address, data FROM user_audit_log WHERE event_id = $1",
        disabled.id,
    )
    assert (row["actor_id"], row["source_address"]) == (uuid.UUID(leaving.uuid), None)


async def test_delete_account_needs_the_current_password(stub, application):
    email = unique_email()
    user = await register(stub, email)
    _, session_id = await login(stub, email)
    me = session_metadata(session_id)
    wrong = await failure(
        stub.DeleteAccount(pb.DeleteAccountRequest(current_password="wrong one"), metadata=me)
    )
    assert wrong.code() is grpc.StatusCode.UNAUTHENTICATED
    assert (await get_me(stub, session_id)).user.uuid == user.uuid
    assert await is_unauthenticated(
        stub.DeleteAccount(pb.DeleteAccountRequest(current_password=PASSWORD))
    )
    await stub.DeleteAccount(pb.DeleteAccountRequest(current_password=PASSWORD), metadata=me)
    assert await is_unauthenticated(get_me(stub, session_id))
    assert (
        await application.pool.fetchval("SELECT count(*) FROM users WHERE email = $1", email) == 0
    )
    [deleted] = [
        e for e in await _events_of(application, user.uuid) if e.type.value == "user.deleted"
    ]
    assert dict(deleted.data) == {"actor_id": user.uuid}
    assert await _rows_holding(application, email) == []
    await register(stub, email)


async def test_delete_user_needs_an_admin(stub, application):
    target = await register(stub)
    _, user_session = await registered_session(stub)
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    service_email = unique_email("service")
    await register(stub, service_email, role="service", metadata=session_metadata(admin))
    _, service_session = await login(stub, service_email)
    request = pb.DeleteUserRequest(uuid=target.uuid)
    assert await is_unauthenticated(stub.DeleteUser(request))
    for session_id in (user_session, service_session):
        error = await failure(stub.DeleteUser(request, metadata=session_metadata(session_id)))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    gone = pb.DeleteUserRequest(uuid=str(uuid.uuid4()))
    error = await failure(stub.DeleteUser(gone, metadata=session_metadata(admin)))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    found = await stub.FindByID(
        pb.FindByIDRequest(uuid=target.uuid), metadata=session_metadata(admin)
    )
    assert found.user.uuid == target.uuid


@pytest.fixture
async def own_database():
    """A service on a database of its own, where the admins are known."""
    settings = isolated_settings("leaving", RUN_ID)
    application = await build_application(settings, passwords=cheap_passwords_for(settings))
    await application.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            yield pb_grpc.UserServiceStub(channel), application
    finally:
        await application.stop(grace=0.5)
        await remove_run_data(settings)


async def test_the_last_active_admin_cannot_delete_itself(own_database):
    stub, application = own_database
    accounts = use_cases_of(application).accounts
    only, session_id = await admin_session(stub, accounts)
    metadata = session_metadata(session_id)
    for call in (
        stub.DeleteUser(pb.DeleteUserRequest(uuid=only.uuid), metadata=metadata),
        stub.DeleteAccount(pb.DeleteAccountRequest(current_password=PASSWORD), metadata=metadata),
    ):
        error = await failure(call)
        assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert (await get_me(stub, session_id)).user.role == "admin"
    _, second_session = await admin_session(stub, accounts)
    await stub.DeleteAccount(pb.DeleteAccountRequest(current_password=PASSWORD), metadata=metadata)
    assert await is_unauthenticated(get_me(stub, session_id))
    assert (await get_me(stub, second_session)).user.role == "admin"


async def test_an_update_of_a_deleted_user_is_not_found(stub, application):
    _, admin_id = await admin_session(stub, use_cases_of(application).accounts)
    admin = session_metadata(admin_id)
    user = await register(stub)
    await stub.DeleteUser(pb.DeleteUserRequest(uuid=user.uuid), metadata=admin)
    request = pb.UpdateUserRequest(
        user=pb.User(uuid=user.uuid, first_name="Ghost"),
        update_mask=FieldMask(paths=["first_name"]),
    )
    error = await failure(stub.UpdateUser(request, metadata=admin))
    assert error.code() is grpc.StatusCode.NOT_FOUND
