"""User events are stored atomically with the state change they report."""

from __future__ import annotations

import uuid

import grpc
import pytest

from app.adapters.redis.sessions import SessionRedisRepository
from app.adapters.redis.streams import EventStreams
from app.bootstrap import event_streams
from app.domain.clients import UNKNOWN_CLIENT
from app.domain.errors import StoreFault
from app.domain.events import EventType, session_revoked, user_logged_in, user_logged_out
from app.domain.passwords import PasswordPolicy
from app.domain.sessions import SessionEndReason
from app.domain.users import Principal, UserStatus, parse_registration
from app.grpc.generated import user_service_pb2 as pb
from tests.support.application import use_cases_of
from tests.support.client import PASSWORD, login, register, session_metadata, unique_email
from tests.support.events import stream_events, unique_stream


async def _user_events(redis, settings, user_id: str) -> list[EventType]:
    events = await stream_events(redis, event_streams(settings).unpartitioned)
    return [event.type for event in events if str(event.user_id) == user_id]


async def test_login_and_logout_events_appear_exactly_when_the_session_changes(
    stub, application, redis, settings
):
    email = unique_email("events")
    user = await register(stub, email)
    assert await _user_events(redis, settings, user.uuid) == []

    _, session_id = await login(stub, email)
    assert await _user_events(redis, settings, user.uuid) == [EventType.USER_LOGGED_IN]

    await stub.Logout(pb.LogoutRequest(), metadata=session_metadata(session_id))
    expected = [EventType.USER_LOGGED_IN, EventType.USER_LOGGED_OUT]
    assert await _user_events(redis, settings, user.uuid) == expected

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Logout(pb.LogoutRequest(), metadata=session_metadata(session_id))
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert await _user_events(redis, settings, user.uuid) == expected


async def test_a_registration_writes_its_event_to_the_outbox_in_the_same_transaction(
    stub, application
):
    email = unique_email("outbox")
    user = await register(stub, email)
    rows = await application.pool.fetch(
        "SELECT event_type, data FROM event_outbox WHERE user_id = $1", uuid.UUID(user.uuid)
    )
    assert [row["event_type"] for row in rows] == ["user.registered"]
    assert '"email": "' + email + '"' in rows[0]["data"]

    with pytest.raises(grpc.aio.AioRpcError):
        await register(stub, email.upper())
    count = await application.pool.fetchval(
        "SELECT count(*) FROM event_outbox WHERE data->>'email' = $1", email
    )
    assert count == 1


async def test_failed_logins_are_recorded_without_the_password(stub, application):
    email = unique_email("failed")
    user = await register(stub, email)
    wrong_password = "not the password at all"
    for attempt_email, password in ((email, wrong_password), (unique_email("ghost"), PASSWORD)):
        with pytest.raises(grpc.aio.AioRpcError):
            await login(stub, attempt_email, password)
    rows = await application.pool.fetch(
        "SELECT user_id, data::text AS data FROM event_outbox"
        " WHERE event_type = 'user.login_failed' ORDER BY id DESC LIMIT 2"
    )
    unknown, wrong = rows
    assert wrong["user_id"] == uuid.UUID(user.uuid)
    assert '"reason": "wrong_password"' in wrong["data"]
    assert unknown["user_id"] is None
    assert '"reason": "unknown_email"' in unknown["data"]
    for row in rows:
        assert wrong_password not in row["data"]
        assert PASSWORD not in row["data"]


def _store(application, stream: str) -> SessionRedisRepository:
    return SessionRedisRepository(
        application.redis,
        key_prefix=application.settings.redis.key_prefix,
        ttl_seconds=60,
        absolute_lifetime_seconds=3600,
        max_per_user=10,
        user_refresh_seconds=30,
        streams=EventStreams("", stream, 1),
        stream_max_length=1000,
    )


async def test_a_session_is_not_created_when_its_event_cannot_be_written(
    application, redis, settings
):
    stream = unique_stream(settings, "broken")
    await redis.set(stream, "not a stream")  # XADD fails with WRONGTYPE: a bug, not an outage
    store = _store(application, stream)
    principal = await register_direct(application)
    with pytest.raises(StoreFault):
        await _create(store, "a-session-id", principal)
    assert await redis.exists(store.key("a-session-id")) == 0


async def test_a_session_is_not_ended_when_its_event_cannot_be_written(
    application, redis, settings
):
    stream = unique_stream(settings, "ending")
    store = _store(application, stream)
    principal = await register_direct(application)
    await _create(store, "another-session-id", principal)
    await redis.delete(stream)
    await redis.set(stream, "not a stream")
    with pytest.raises(StoreFault):
        await store.delete("another-session-id", user_logged_out(UNKNOWN_CLIENT))
    lookup = await store.resolve("another-session-id", session_revoked(SessionEndReason.REVOKED))
    assert lookup is not None and lookup.principal == principal


async def _create(store: SessionRedisRepository, session_id: str, principal: Principal) -> None:
    user = principal.user
    capped = session_revoked(SessionEndReason.CAP)
    await store.create(session_id, principal, UNKNOWN_CLIENT, user_logged_in(user), capped)


async def register_direct(application) -> Principal:
    """A user registered through the use case, as the session store sees it."""
    registration = parse_registration(
        email=unique_email("direct"),
        first_name="Ada",
        last_name="Lovelace",
        password=PASSWORD,
        role="",
        avatar="",
        policy=PasswordPolicy(),
    )
    user = await use_cases_of(application).users.register(registration, None, UNKNOWN_CLIENT)
    return Principal(user, UserStatus.ACTIVE, version=1, sessions_epoch=0)
