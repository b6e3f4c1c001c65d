"""Audited actions name who acted and from which network, on the stream and in the audit log."""

from __future__ import annotations

import json
import uuid

from app.adapters.postgres.audit_log import AuditLogPgRepository
from app.domain.events import EventType
from app.grpc.generated import user_service_pb2 as pb
from tests.support.application import use_cases_of
from tests.support.client import admin_session, registered_session, session_metadata
from tests.support.events import stream_events

# Every test calls from 127.0.0.1: its /24 is what the events keep.
LOOPBACK_NETWORK = "127.0.0.0/24"


async def _user_events(redis, settings, user_id: str):
    stream = f"{settings.redis.key_prefix}{settings.events.stream}"
    return [e for e in await stream_events(redis, stream) if str(e.user_id) == user_id]


async def test_an_admin_action_names_the_admin_and_its_network(stub, application, redis, settings):
    admin, admin_session_id = await admin_session(stub, use_cases_of(application).accounts)
    user, _ = await registered_session(stub)
    await stub.DisableUser(
        pb.DisableUserRequest(uuid=user.uuid), metadata=session_metadata(admin_session_id)
    )
    data = await application.pool.fetchval(
        "SELECT data FROM event_outbox WHERE user_id = $1 AND event_type = 'user.disabled'",
        uuid.UUID(user.uuid),
    )
    acted = {"actor_id": admin.uuid, "source_address": LOOPBACK_NETWORK}
    assert json.loads(data) == acted
    [revoked] = [
        e
        for e in await _user_events(redis, settings, user.uuid)
        if e.type is EventType.SESSION_REVOKED
    ]
    assert {name: revoked.data[name] for name in acted} == acted
    assert revoked.data["reason"] == "disabled"


async def test_a_users_own_endings_name_the_user_and_its_network(
    stub, application, redis, settings
):
    user, session_id = await registered_session(stub)
    other, other_session = await registered_session(stub)
    await stub.LogoutAll(pb.LogoutAllRequest(), metadata=session_metadata(session_id))
    [revoked] = [
        e
        for e in await _user_events(redis, settings, user.uuid)
        if e.type is EventType.SESSION_REVOKED
    ]
    assert revoked.data["actor_id"] == user.uuid
    assert revoked.data["source_address"] == LOOPBACK_NETWORK
    await stub.Logout(pb.LogoutRequest(), metadata=session_metadata(other_session))
    [logged_out] = [
        e
        for e in await _user_events(redis, settings, other.uuid)
        if e.type is EventType.USER_LOGGED_OUT
    ]
    assert logged_out.data == {"source_address": LOOPBACK_NETWORK}


async def test_the_audit_log_keeps_the_actor_and_the_network(stub, application, redis, settings):
    admin, admin_session_id = await admin_session(stub, use_cases_of(application).accounts)
    user, _ = await registered_session(stub)
    await stub.RevokeUserSessions(
        pb.RevokeUserSessionsRequest(uuid=user.uuid), metadata=session_metadata(admin_session_id)
    )
    events = await _user_events(redis, settings, user.uuid)
    await AuditLogPgRepository(application.pool).record(events)
    rows = await application.pool.fetch(
        "SELECT event_type, actor_id, source_address FROM user_audit_log"
        " WHERE user_id = $1 AND event_type IN ('user.logged_in', 'session.revoked')",
        uuid.UUID(user.uuid),
    )
    assert {(row["event_type"], row["actor_id"], row["source_address"]) for row in rows} == {
        ("user.logged_in", None, None),
        ("session.revoked", uuid.UUID(admin.uuid), LOOPBACK_NETWORK),
    }
