"""The use cases' rules, against in-memory fakes of their Protocols."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from app.domain.errors import (
    EmailTaken,
    InvalidCredentials,
    PermissionDenied,
    Store,
    StoreUnavailable,
    Unauthenticated,
)
from app.domain.events import Actor, EventType, user_disabled, user_role_changed
from app.domain.users import Role, User, UserStatus, normalise_email
from tests.unit.world import CLIENT, PASSWORD, World


@pytest.fixture
def world() -> World:
    return World()


async def test_an_admin_cannot_be_registered_without_an_admin_caller(world):
    plain = await world.register("plain@example.com")
    for caller in (None, plain):
        with pytest.raises(PermissionDenied):
            await world.register("boss@example.com", Role.ADMIN, caller)
    assert [p.user.email for p, _ in world.users.rows.values()] == ["plain@example.com"]
    assert world.passwords.hashes == 1  # refused before spending a hash


async def _stored_admin(world: World, email: str) -> User:
    """A user made admin in the store, as the operator's command does (no actor)."""
    user = await world.register(email)
    changed = user_role_changed(user.id, Role.ADMIN, None)
    return (await world.users.set_role(user.id, Role.ADMIN, changed, actor=None)).user


async def test_an_admin_may_register_an_admin(world):
    admin = await _stored_admin(world, "root@example.com")
    created = await world.register("boss@example.com", Role.ADMIN, admin)
    assert created.role is Role.ADMIN


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SERVICE])
@pytest.mark.parametrize("since", ["demoted", "disabled"])
async def test_an_admin_demoted_or_disabled_since_its_session_was_read_registers_no_one(
    world, role, since
):
    stale_copy = await _stored_admin(world, "root@example.com")
    await _stored_admin(world, "second@example.com")
    if since == "demoted":
        changed = user_role_changed(stale_copy.id, Role.USER, None)
        await world.users.set_role(stale_copy.id, Role.USER, changed, actor=None)
    else:
        changed = user_disabled(stale_copy.id, Actor(stale_copy.id, ""))
        await world.users.set_status(stale_copy.id, UserStatus.DISABLED, changed, actor=None)
    # The caller's copy still says admin: the store's row, read at the insert, decides.
    with pytest.raises(PermissionDenied):
        await world.register("boss@example.com", role, stale_copy)
    assert "boss@example.com" not in [p.user.email for p, _ in world.users.rows.values()]
    registered = [
        e.data["email"] for e in world.users.events if e.type is EventType.USER_REGISTERED
    ]
    assert "boss@example.com" not in registered


async def test_registration_stores_the_user_with_its_event(world):
    user = await world.register()
    assert [(event.type, event.user_id) for event in world.users.events] == [
        (EventType.USER_REGISTERED, user.id)
    ]
    assert PASSWORD not in str(world.users.events[0].data)


async def test_unknown_email_spends_a_dummy_verification_and_is_indistinguishable(world):
    await world.register()
    with pytest.raises(InvalidCredentials) as unknown:
        await world.user_cases.login(world.attempt("nobody@example.com", PASSWORD), CLIENT)
    with pytest.raises(InvalidCredentials) as wrong:
        await world.user_cases.login(world.attempt("ada@example.com", "wrong password"), CLIENT)
    assert world.passwords.dummy_verifications == 1
    assert str(unknown.value) == str(wrong.value)
    assert world.sessions.sessions == {}
    reasons = [event.data["reason"] for event in world.outbox.events]
    assert reasons == ["unknown_email", "wrong_password"]
    assert all(event.type is EventType.USER_LOGIN_FAILED for event in world.outbox.events)


async def test_a_malformed_email_at_login_is_invalid_credentials_not_invalid_input(world):
    with pytest.raises(InvalidCredentials):
        await world.user_cases.login(world.attempt("not an email", PASSWORD), CLIENT)
    assert world.passwords.dummy_verifications == 1


async def test_login_opens_a_session_with_its_event(world):
    user = await world.register()
    logged_in = await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    session = logged_in.session
    assert [s.user_id for s in world.sessions.sessions.values()] == [user.id]
    assert session.id in world.sessions.sessions
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
        session = (await world.user_cases.login(world.attempt(spelling, PASSWORD), CLIENT)).session
        assert session.user == user
        assert (
            await world.user_cases.find_by_email(normalise_email(spelling), world.principal(user))
            == user
        )
    assert {account for account, _ in world.throttle.admitted} == {"kate@example.com"}
    assert world.throttle.succeeded_for == ["kate@example.com"] * 2


async def test_login_rehashes_when_the_parameters_changed(world):
    user = await world.register()
    world.passwords.version = 2
    await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    assert world.users.rows[user.id][1] == f"v2:{PASSWORD}"


async def test_register_fails_fast_without_hashing_while_postgresql_is_known_down(world):
    world.stores.down.add(Store.POSTGRESQL)
    with pytest.raises(StoreUnavailable) as raised:
        await world.register()
    assert raised.value.store is Store.POSTGRESQL
    assert world.passwords.hashes == 0
    assert world.users.rows == {}


async def test_register_still_works_while_only_redis_is_down(world):
    world.stores.down.add(Store.REDIS)
    await world.register()
    assert world.passwords.hashes == 1
    assert len(world.users.rows) == 1
    assert world.throttle.actions == []  # its rate is not checked against a store known down


@pytest.mark.parametrize("email", ["ada@example.com", "nobody@example.com", "not an email"])
async def test_login_fails_fast_without_verifying_while_redis_is_known_down(world, email):
    await world.register()
    world.stores.down.add(Store.REDIS)
    with pytest.raises(StoreUnavailable) as raised:
        await world.user_cases.login(world.attempt(email, PASSWORD), CLIENT)
    assert raised.value.store is Store.REDIS
    assert world.passwords.verifications == 0
    assert world.passwords.dummy_verifications == 0
    assert world.sessions.sessions == {}


async def test_login_works_again_once_redis_is_back(world):
    await world.register()
    world.stores.down.add(Store.REDIS)
    with pytest.raises(StoreUnavailable):
        await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    world.stores.down.clear()
    logged_in = await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    session = logged_in.session
    assert session.id in world.sessions.sessions


async def test_find_by_id_reads_through_the_cache(world):
    user = await world.register()
    me = world.principal(user)
    assert await world.user_cases.find_by_id(user.id, me) == user
    assert await world.user_cases.find_by_id(user.id, me) == user
    assert world.users.reads_by_id == 1
    assert world.cache.users == {user.id: user}


async def test_a_broken_cache_falls_back_to_the_repository_and_warns():
    world = World(cache_broken=True)
    user = await world.register()
    with capture_logs() as logs:
        assert await world.user_cases.find_by_id(user.id, world.principal(user)) == user
    assert world.users.reads_by_id == 1
    assert {entry["event"] for entry in logs} == {
        "user cache read failed, reading from PostgreSQL",
        "user cache write failed",
    }
    assert all(entry["log_level"] == "warning" for entry in logs)


async def test_logout_ends_the_session_once(world):
    await world.register()
    logged_in = await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    session = logged_in.session
    await world.session_cases.logout(session.id, CLIENT)
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(session.id)
    with pytest.raises(Unauthenticated):
        await world.session_cases.logout(session.id, CLIENT)
    assert [event.type for event in world.sessions.events] == [
        EventType.USER_LOGGED_IN,
        EventType.USER_LOGGED_OUT,
    ]


@pytest.mark.parametrize("session_id", [None, ""])
async def test_no_session_is_unauthenticated_but_optional_for_register(world, session_id):
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(session_id)
    assert await world.session_cases.optional_caller(session_id) is None


async def test_every_hash_and_check_is_asked_for_the_calling_client(world):
    await world.register("ada@example.com")
    await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    with pytest.raises(InvalidCredentials):
        await world.user_cases.login(world.attempt("nobody@example.com", PASSWORD), CLIENT)
    # The hasher shares its threads out by client: each call says whose work it is.
    assert world.passwords.clients == [CLIENT, CLIENT, CLIENT]
