"""User events: the envelope, its stream fields, and which use case makes which event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.adapters.redis.streams import MalformedEvent, decode_event, encode_event
from app.domain.clients import Client
from app.domain.errors import InvalidCredentials
from app.domain.events import Event, EventType, LoginFailure, user_login_failed, user_registered
from app.domain.users import Role, User
from app.usecases.users import UserUseCase
from tests.unit.fakes import FakeThrottle

CLIENT = Client(address="192.0.2.1")


def test_an_event_survives_the_round_trip_through_stream_fields():
    event = user_login_failed(
        LoginFailure.WRONG_PASSWORD,
        email="ada@example.com",
        user_id=uuid.uuid4(),
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    fields = encode_event(event)
    assert decode_event({name.encode(): value.encode() for name, value in fields.items()}) == event
    assert fields["type"] == "user.login_failed"


def test_an_unknown_user_and_no_trace_leave_their_fields_out():
    event = user_login_failed(LoginFailure.UNKNOWN_EMAIL, email=None, user_id=None, traceparent="")
    fields = encode_event(event)
    assert "user_id" not in fields
    assert "traceparent" not in fields
    assert decode_event(fields) == event


@pytest.mark.parametrize(
    "fields",
    [
        {"schema_version": "1", "type": "user.registered"},
        {**encode_event(user_registered("a@example.com", "user", None)), "schema_version": "9"},
        {**encode_event(user_registered("a@example.com", "user", None)), "type": "user.eaten"},
        {**encode_event(user_registered("a@example.com", "user", None)), "data": "[1]"},
    ],
)
def test_entries_that_are_not_events_are_malformed(fields):
    with pytest.raises(MalformedEvent):
        decode_event(fields)


def test_events_are_immutable():
    event = user_registered("a@example.com", "user", None)
    with pytest.raises(TypeError):
        event.data["email"] = "b@example.com"  # type: ignore[index]


NOW = datetime.now(UTC)
USER = User(uuid.uuid4(), "ada@example.com", "Ada", "Lovelace", Role.USER, None, NOW, NOW)


class FakeUsers:
    def __init__(self) -> None:
        self.added: list[Event] = []

    async def add(self, new_user, registered: Event) -> User:
        self.added.append(registered.about(USER.id))
        return USER

    async def get_with_password_hash(self, email: str):
        return (USER, "hash") if email == USER.email else None


class FakePasswords:
    async def hash(self, password: str) -> str:
        return "hash"

    async def verify(self, password_hash: str, password: str) -> bool:
        return password == "right password"

    async def verify_dummy(self, password: str) -> None:
        return None

    def needs_rehash(self, password_hash: str) -> bool:
        return False

    def check_capacity(self) -> None:
        return None


class FakeSessions:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def create(self, session_id: str, user: User, logged_in: Event) -> None:
        self.events.append(logged_in)


class FakeOutbox:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def add(self, event: Event) -> None:
        self.events.append(event)


def _use_case():
    users, sessions, outbox = FakeUsers(), FakeSessions(), FakeOutbox()
    use_case = UserUseCase(
        users=users,  # type: ignore[arg-type]
        cache=None,  # type: ignore[arg-type]
        sessions=sessions,  # type: ignore[arg-type]
        passwords=FakePasswords(),  # type: ignore[arg-type]
        outbox=outbox,
        throttle=FakeThrottle(),
    )
    return use_case, sessions, outbox


@pytest.mark.parametrize(
    ("email", "password", "reason", "user_id"),
    [
        ("not an email", "right password", LoginFailure.INVALID_EMAIL, None),
        ("ghost@example.com", "right password", LoginFailure.UNKNOWN_EMAIL, None),
        ("ada@example.com", "wrong password", LoginFailure.WRONG_PASSWORD, USER.id),
    ],
)
async def test_each_failed_login_records_why_and_never_the_password(
    email, password, reason, user_id
):
    use_case, sessions, outbox = _use_case()
    with pytest.raises(InvalidCredentials):
        await use_case.login(email, password, CLIENT)
    [event] = outbox.events
    assert event.type is EventType.USER_LOGIN_FAILED
    assert event.data["reason"] == reason.value
    assert event.user_id == user_id
    assert password not in str(encode_event(event))
    assert sessions.events == []


async def test_a_login_creates_the_session_with_its_logged_in_event():
    use_case, sessions, outbox = _use_case()
    session = await use_case.login("ada@example.com", "right password", CLIENT)
    [event] = sessions.events
    assert event.type is EventType.USER_LOGGED_IN
    assert event.user_id == USER.id
    assert session.id not in str(encode_event(event))
    assert outbox.events == []
