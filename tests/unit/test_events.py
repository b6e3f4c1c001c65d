"""User events: the envelope, its stream fields, and which use case makes which event."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from app.adapters.redis.streams import MalformedEvent, decode_event, encode_event
from app.domain.errors import InvalidCredentials
from app.domain.events import EventType, LoginFailure, user_login_failed, user_registered
from app.domain.users import NewUser, Role, User, new_user_id
from tests.unit.world import CLIENT, PASSWORD, World

NEW_USER = NewUser(
    id=new_user_id(),
    email="a@example.com",
    first_name="A",
    last_name="B",
    role=Role.USER,
    avatar=None,
    password_hash="not a hash",
)


def test_a_registration_is_about_its_new_user_from_the_start():
    event = user_registered(NEW_USER)
    assert event.user_id == NEW_USER.id
    assert dict(event.data) == {"email": "a@example.com", "role": "user"}


def test_an_event_survives_the_round_trip_through_stream_fields():
    event = dataclasses.replace(
        user_login_failed(
            LoginFailure.WRONG_PASSWORD, email="ada@example.com", user_id=uuid.uuid4()
        ),
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    fields = encode_event(event)
    assert decode_event({name.encode(): value.encode() for name, value in fields.items()}) == event
    assert fields["type"] == "user.login_failed"


def test_an_unknown_user_and_no_trace_leave_their_fields_out():
    event = user_login_failed(LoginFailure.UNKNOWN_EMAIL, email=None, user_id=None)
    # As a stream entry's fields: ``decode_event`` reads text or bytes.
    fields: dict[str | bytes, str | bytes] = dict(encode_event(event).items())
    assert "user_id" not in fields
    assert "traceparent" not in fields
    assert decode_event(fields) == event


@pytest.mark.parametrize(
    "fields",
    [
        {"schema_version": "1", "type": "user.registered"},
        {**encode_event(user_registered(NEW_USER)), "schema_version": "9"},
        {**encode_event(user_registered(NEW_USER)), "type": "user.eaten"},
        {**encode_event(user_registered(NEW_USER)), "data": "[1]"},
    ],
)
def test_entries_that_are_not_events_are_malformed(fields):
    with pytest.raises(MalformedEvent):
        decode_event(fields)


def test_events_are_immutable():
    event = user_registered(NEW_USER)
    with pytest.raises(TypeError):
        event.data["email"] = "b@example.com"  # type: ignore[index]


async def _use_case() -> tuple[World, User]:
    world = World()
    ada = await world.register()
    world.users.events.clear()
    return world, ada


@pytest.mark.parametrize(
    ("email", "password", "reason", "user_id"),
    [
        ("not an email", PASSWORD, LoginFailure.INVALID_EMAIL, None),
        ("ghost@example.com", PASSWORD, LoginFailure.UNKNOWN_EMAIL, None),
        ("ada@example.com", "wrong password", LoginFailure.WRONG_PASSWORD, "ada"),
    ],
)
async def test_each_failed_login_records_why_and_never_the_password(
    email, password, reason, user_id
):
    world, ada = await _use_case()
    with pytest.raises(InvalidCredentials):
        await world.user_cases.login(world.attempt(email, password), CLIENT)
    [event] = world.outbox.events
    assert event.type is EventType.USER_LOGIN_FAILED
    assert event.data["reason"] == reason.value
    assert event.user_id == (ada.id if user_id == "ada" else None)
    assert password not in str(encode_event(event))
    assert world.sessions.events == []


async def test_a_login_creates_the_session_with_its_logged_in_event():
    world, ada = await _use_case()
    logged_in = await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    session = logged_in.session
    [event] = world.sessions.events
    assert event.type is EventType.USER_LOGGED_IN
    assert event.user_id == ada.id
    assert session.id not in str(encode_event(event))
    assert world.outbox.events == []
