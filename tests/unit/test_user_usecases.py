"""The use cases' rules, against in-memory fakes of their Protocols."""

from __future__ import annotations

import dataclasses

import pytest
from structlog.testing import capture_logs

from app.domain.clients import Client
from app.domain.errors import EmailTaken, InvalidCredentials, PermissionDenied, Unauthenticated
from app.domain.events import EventType
from app.domain.users import Registration, Role
from app.usecases.sessions import SessionUseCase
from app.usecases.users import UserUseCase
from tests.unit.fakes import (
    FakeCache,
    FakeOutbox,
    FakePasswords,
    FakeSessions,
    FakeThrottle,
    FakeUsers,
)

CLIENT = Client(address="192.0.2.1", user_agent="unit-test")

PASSWORD = "long enough password"


class World:
    def __init__(self, *, cache_broken: bool = False) -> None:
        self.users = FakeUsers()
        self.cache = FakeCache(broken=cache_broken)
        self.sessions = FakeSessions()
        self.passwords = FakePasswords()
        self.outbox = FakeOutbox()
        self.throttle = FakeThrottle()
        self.user_cases = UserUseCase(
            self.users, self.cache, self.sessions, self.passwords, self.outbox, self.throttle
        )
        self.session_cases = SessionUseCase(self.sessions)

    async def register(self, email: str = "ada@example.com", role: Role = Role.USER, caller=None):
        registration = Registration(
            email=email,
            first_name="Ada",
            last_name="Lovelace",
            password=PASSWORD,
            role=role,
            avatar=None,
        )
        return await self.user_cases.register(registration, caller, CLIENT)


@pytest.fixture
def world() -> World:
    return World()


async def test_an_admin_cannot_be_registered_without_an_admin_caller(world):
    plain = await world.register("plain@example.com")
    for caller in (None, plain):
        with pytest.raises(PermissionDenied):
            await world.register("boss@example.com", Role.ADMIN, caller)
    assert [user.email for user, _ in world.users.rows.values()] == ["plain@example.com"]
    assert world.passwords.hashes == 1  # refused before spending a hash


async def test_an_admin_may_register_an_admin(world):
    admin = dataclasses.replace(await world.register("root@example.com"), role=Role.ADMIN)
    created = await world.register("boss@example.com", Role.ADMIN, admin)
    assert created.role is Role.ADMIN


async def test_registration_stores_the_user_with_its_event(world):
    user = await world.register()
    assert [(event.type, event.user_id) for event in world.users.events] == [
        (EventType.USER_REGISTERED, user.id)
    ]
    assert PASSWORD not in str(world.users.events[0].data)


async def test_unknown_email_spends_a_dummy_verification_and_is_indistinguishable(world):
    await world.register()
    with pytest.raises(InvalidCredentials) as unknown:
        await world.user_cases.login("nobody@example.com", PASSWORD, CLIENT)
    with pytest.raises(InvalidCredentials) as wrong:
        await world.user_cases.login("ada@example.com", "wrong password", CLIENT)
    assert world.passwords.dummy_verifications == 1
    assert str(unknown.value) == str(wrong.value)
    assert world.sessions.sessions == {}
    reasons = [event.data["reason"] for event in world.outbox.events]
    assert reasons == ["unknown_email", "wrong_password"]
    assert all(event.type is EventType.USER_LOGIN_FAILED for event in world.outbox.events)


async def test_a_malformed_email_at_login_is_invalid_credentials_not_invalid_input(world):
    with pytest.raises(InvalidCredentials):
        await world.user_cases.login("not an email", PASSWORD, CLIENT)
    assert world.passwords.dummy_verifications == 1


async def test_login_opens_a_session_with_its_event(world):
    user = await world.register()
    session = await world.user_cases.login("ada@example.com", PASSWORD, CLIENT)
    assert world.sessions.sessions == {session.id: user}
    assert [(event.type, event.user_id) for event in world.sessions.events] == [
        (EventType.USER_LOGGED_IN, user.id)
    ]


async def test_an_address_taken_in_another_spelling_is_taken(world):
    await world.register("kate@example.com")
    with pytest.raises(EmailTaken):
        await world.register("\uff4bate@example.com")  # a fullwidth k
    assert len(world.users.rows) == 1


async def test_login_and_lookup_find_an_account_by_any_spelling_counted_as_one(world):
    user = await world.register("kate@example.com")
    for spelling in ("KATE@example.com", "\uff4bate@example.com"):
        session = await world.user_cases.login(spelling, PASSWORD, CLIENT)
        assert session.user == user
        assert await world.user_cases.find_by_email(spelling) == user
    assert {account for account, _ in world.throttle.admitted} == {"kate@example.com"}
    assert world.throttle.succeeded_for == ["kate@example.com"] * 2


async def test_login_rehashes_when_the_parameters_changed(world):
    user = await world.register()
    world.passwords.version = 2
    await world.user_cases.login("ada@example.com", PASSWORD, CLIENT)
    assert world.users.rows[user.id][1] == f"v2:{PASSWORD}"


async def test_find_by_id_reads_through_the_cache(world):
    user = await world.register()
    assert await world.user_cases.find_by_id(str(user.id)) == user
    assert await world.user_cases.find_by_id(str(user.id)) == user
    assert world.users.reads_by_id == 1
    assert world.cache.users == {user.id: user}


async def test_a_broken_cache_falls_back_to_the_repository_and_warns():
    world = World(cache_broken=True)
    user = await world.register()
    with capture_logs() as logs:
        assert await world.user_cases.find_by_id(str(user.id)) == user
    assert world.users.reads_by_id == 1
    assert {entry["event"] for entry in logs} == {
        "user cache read failed, reading from PostgreSQL",
        "user cache write failed",
    }
    assert all(entry["log_level"] == "warning" for entry in logs)


async def test_logout_ends_the_session_once(world):
    await world.register()
    session = await world.user_cases.login("ada@example.com", PASSWORD, CLIENT)
    await world.session_cases.logout(session.id)
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(session.id)
    with pytest.raises(Unauthenticated):
        await world.session_cases.logout(session.id)
    assert [event.type for event in world.sessions.events] == [
        EventType.USER_LOGGED_IN,
        EventType.USER_LOGGED_OUT,
    ]


@pytest.mark.parametrize("session_id", [None, ""])
async def test_no_session_is_unauthenticated_but_optional_for_register(world, session_id):
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(session_id)
    assert await world.session_cases.optional_caller(session_id) is None
