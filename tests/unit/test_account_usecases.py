"""Sessions, password change and admin actions, on the in-memory fakes."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from structlog.testing import capture_logs

from app.domain.errors import (
    LastAdmin,
    PermissionDenied,
    SessionNotFound,
    StoreUnavailable,
    Throttled,
    Unauthenticated,
    WrongPassword,
)
from app.domain.events import Event, EventType, user_role_changed
from app.domain.passwords import Password
from app.domain.ports import LoginOutcome
from app.domain.sessions import SessionEndReason
from app.domain.users import Principal, Role, User, UserStatus, canonical_email, normalise_email
from tests.unit.world import CLIENT, PASSWORD, World

NEW_PASSWORD = Password("another long password")


@pytest.fixture
def world() -> World:
    return World()


async def _logged_in(world: World, email: str = "ada@example.com") -> tuple[User, str]:
    """A session of the user with ``email``, registered first if need be."""
    found = await world.users.get_by_email(canonical_email(email))
    user = found or await world.register(email)
    session = (await world.user_cases.login(world.attempt(email, PASSWORD), CLIENT)).session
    return user, session.id


async def _with_role(world: World, email: str, role: Role) -> Principal:
    """A user given ``role`` as an operator would (no caller)."""
    user = await world.register(email)
    return await world.users.set_role(user.id, role, _event(), actor=None)


async def _admin(world: World, email: str = "root@example.com") -> Principal:
    return await _with_role(world, email, Role.ADMIN)


def _event() -> Event:
    return user_role_changed(uuid.uuid4(), Role.ADMIN, None)


async def test_change_password_goes_through_the_login_throttle(world):
    user, session_id = await _logged_in(world)
    caller = world.principal(user)
    world.throttle.admitted.clear()
    await world.accounts.change_password(
        caller, session_id, world.offered(PASSWORD), NEW_PASSWORD, CLIENT
    )
    assert world.throttle.admitted == [(user.email, CLIENT)]
    assert world.throttle.succeeded_for[-1] == user.email


async def test_a_throttled_change_password_checks_no_password(world):
    user, session_id = await _logged_in(world)
    world.throttle.refusing = True
    with pytest.raises(Throttled):
        await world.accounts.change_password(
            world.principal(user), session_id, world.offered(PASSWORD), NEW_PASSWORD, CLIENT
        )
    assert world.users.rows[user.id][1] == f"v1:{PASSWORD}"


async def test_a_wrong_current_password_is_refused_and_not_forgiven_by_the_throttle(world):
    user, session_id = await _logged_in(world)
    before = list(world.throttle.succeeded_for)
    with pytest.raises(WrongPassword):
        await world.accounts.change_password(
            world.principal(user), session_id, world.offered("wrong"), NEW_PASSWORD, CLIENT
        )
    assert world.throttle.succeeded_for == before
    assert world.users.rows[user.id][1] == f"v1:{PASSWORD}"


async def test_change_password_rehashes_bumps_the_epoch_and_ends_only_the_other_sessions(world):
    user, current = await _logged_in(world)
    _, other = await _logged_in(world)
    ended = await world.accounts.change_password(
        world.principal(user), current, world.offered(PASSWORD), NEW_PASSWORD, CLIENT
    )
    assert ended == 1
    assert world.users.rows[user.id][1] == f"v1:{NEW_PASSWORD}"
    assert world.principal(user).sessions_epoch == 1
    assert (await world.session_cases.authenticate(current)).id == user.id
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(other)
    assert world.metrics.ended == {SessionEndReason.PASSWORD_CHANGE: 1}
    assert EventType.USER_PASSWORD_CHANGED in [event.type for event in world.users.events]


@pytest.mark.parametrize("action", ["set_role", "disable", "enable", "revoke_user_sessions"])
@pytest.mark.parametrize("role", [Role.USER, Role.SERVICE])
async def test_admin_actions_need_an_admin(world, action, role):
    target = await world.register("target@example.com")
    principal = await _with_role(world, "caller@example.com", role)
    arguments = (target.id, Role.ADMIN) if action == "set_role" else (target.id,)
    with pytest.raises(PermissionDenied):
        await getattr(world.accounts, action)(principal, *arguments, CLIENT)
    assert world.principal(target).version == 1


@pytest.mark.parametrize("action", ["set_role", "disable", "enable", "revoke_user_sessions"])
async def test_an_admin_demoted_since_its_session_was_read_is_refused(world, action):
    stale_copy = await _admin(world)
    await _admin(world, "second@example.com")
    await world.users.set_role(stale_copy.user.id, Role.USER, _event(), actor=None)
    target = await world.register("target@example.com")
    arguments = (target.id, Role.ADMIN) if action == "set_role" else (target.id,)
    with pytest.raises(PermissionDenied):
        await getattr(world.accounts, action)(stale_copy, *arguments, CLIENT)
    assert world.principal(target).version == 1


async def test_disable_ends_every_session_rewrites_the_principal_and_drops_the_cache(world):
    admin = await _admin(world)
    user, first = await _logged_in(world)
    await world.user_cases.find_by_id(user.id, admin)
    assert user.id in world.cache.users
    await world.accounts.disable(admin, user.id, CLIENT)
    assert world.sessions.principals[user.id].status is UserStatus.DISABLED
    assert user.id not in world.cache.users
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(first)
    assert world.metrics.ended == {SessionEndReason.DISABLED: 1}


async def test_a_disabled_user_cannot_log_in_and_looks_like_a_wrong_password(world):
    admin = await _admin(world)
    user = await world.register()
    await world.accounts.disable(admin, user.id, CLIENT)
    with pytest.raises(Exception) as disabled:
        await world.user_cases.login(world.attempt(user.email, PASSWORD), CLIENT)
    with pytest.raises(Exception) as wrong:
        await world.user_cases.login(world.attempt(user.email, "wrong password"), CLIENT)
    assert type(disabled.value) is type(wrong.value)
    assert str(disabled.value) == str(wrong.value)
    reasons = [event.data["reason"] for event in world.outbox.events]
    assert reasons == ["disabled", "wrong_password"]
    assert world.metrics.logins == [LoginOutcome.DISABLED, LoginOutcome.INVALID_CREDENTIALS]


async def test_the_last_active_admin_cannot_demote_or_disable_itself(world):
    admin = await _admin(world)
    with pytest.raises(LastAdmin):
        await world.accounts.set_role(admin, admin.user.id, Role.USER, CLIENT)
    with pytest.raises(LastAdmin):
        await world.accounts.disable(admin, admin.user.id, CLIENT)
    second = await _admin(world, "second@example.com")
    demoted = await world.accounts.set_role(second, admin.user.id, Role.USER, CLIENT)
    assert demoted.role is Role.USER


async def test_set_role_rewrites_the_principal_so_the_change_counts_at_once(world):
    admin = await _admin(world)
    user, session_id = await _logged_in(world)
    await world.accounts.set_role(admin, user.id, Role.SERVICE, CLIENT)
    assert (await world.session_cases.authenticate(session_id)).role is Role.SERVICE


async def test_revoke_user_sessions_ends_sessions_a_racing_login_made_under_the_old_epoch(world):
    admin = await _admin(world)
    user = await world.register()
    stale = world.principal(user)  # what a racing login read before the revocation
    await world.accounts.revoke_user_sessions(admin, user.id, CLIENT)
    refused = await world.sessions.create("late", stale, CLIENT, _event(), _event())
    assert refused is None


async def test_login_counts_outcomes_and_sessions(world):
    await world.register()
    await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    world.throttle.refusing = True
    with pytest.raises(Throttled):
        await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    assert world.metrics.logins == [LoginOutcome.SUCCESS, LoginOutcome.THROTTLED]
    assert world.metrics.created == 1


async def test_the_cap_ends_the_oldest_sessions_and_counts_them(world):
    world.sessions.cap = 2
    user, first = await _logged_in(world)
    for _ in range(2):
        await _logged_in(world)
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(first)
    assert world.metrics.ended == {SessionEndReason.CAP: 1}
    assert len(await world.session_cases.list_sessions((await _logged_in(world))[1])) == 2
    assert user.id in world.sessions.principals


# Authentication from the source of truth.


async def test_a_fresh_principal_is_served_without_reading_the_repository(world):
    user, session_id = await _logged_in(world)
    world.users.broken = True
    assert (await world.session_cases.authenticate(session_id)).id == user.id


async def test_a_stale_principal_is_reloaded_and_a_change_made_behind_our_back_counts(world):
    user, session_id = await _logged_in(world)
    principal, password_hash = world.users.rows[user.id]
    changed = dataclasses.replace(principal.user, role=Role.ADMIN)
    world.users.rows[user.id] = (
        Principal(changed, principal.status, principal.version + 1, principal.sessions_epoch),
        password_hash,
    )
    assert (await world.session_cases.authenticate(session_id)).role is Role.USER
    world.sessions.stale = True
    assert (await world.session_cases.authenticate(session_id)).role is Role.ADMIN


async def test_a_stale_principal_is_served_while_the_repository_is_down_with_a_warning(world):
    user, session_id = await _logged_in(world)
    world.sessions.stale = True
    world.users.broken = True
    with capture_logs() as logs:
        assert (await world.session_cases.authenticate(session_id)).id == user.id
    assert [entry["event"] for entry in logs] == [
        "user store unavailable, serving a stale principal"
    ]


@pytest.mark.parametrize("change", ["disabled", "epoch"])
async def test_without_a_cached_principal_the_fresh_copy_decides(world, change):
    user, session_id = await _logged_in(world)
    principal, password_hash = world.users.rows[user.id]
    changed = dataclasses.replace(
        principal,
        version=principal.version + 1,
        status=UserStatus.DISABLED if change == "disabled" else principal.status,
        sessions_epoch=principal.sessions_epoch + (change == "epoch"),
    )
    world.users.rows[user.id] = (changed, password_hash)
    del world.sessions.principals[user.id]
    world.sessions.evicting = True
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(session_id)


async def test_without_any_principal_a_down_repository_is_unavailable(world):
    user, session_id = await _logged_in(world)
    del world.sessions.principals[user.id]
    world.users.broken = True
    with pytest.raises(StoreUnavailable):
        await world.session_cases.authenticate(session_id)


async def test_a_deleted_user_loses_every_session(world):
    user, session_id = await _logged_in(world)
    _, other = await _logged_in(world)
    del world.users.rows[user.id]
    world.sessions.stale = True
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(session_id)
    assert world.sessions.sessions == {}
    assert user.id not in world.sessions.principals
    assert world.metrics.ended == {SessionEndReason.DELETED: 2}
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(other)


async def test_lookups_of_others_need_an_admin_or_a_service_caller(world):
    plain = world.principal(await world.register("plain@example.com"))
    other = await world.register("other@example.com")
    service = await _with_role(world, "svc@example.com", Role.SERVICE)
    with pytest.raises(PermissionDenied):
        await world.user_cases.find_by_email(normalise_email("other@example.com"), plain)
    with pytest.raises(PermissionDenied):
        await world.user_cases.find_by_email(normalise_email("nobody@example.com"), plain)
    with pytest.raises(PermissionDenied):
        await world.user_cases.find_by_id(other.id, plain)
    assert (
        await world.user_cases.find_by_email(normalise_email("PLAIN@example.com"), plain)
        == plain.user
    )
    assert await world.user_cases.find_by_id(other.id, service) == other


async def test_revoke_session_knows_only_the_callers_sessions(world):
    _, mine = await _logged_in(world)
    _, theirs = await _logged_in(world, "bob@example.com")
    [their_session] = await world.session_cases.list_sessions(theirs)
    with pytest.raises(SessionNotFound):
        await world.session_cases.revoke_session(mine, their_session.handle, CLIENT)
    await world.session_cases.revoke_session(theirs, their_session.handle, CLIENT)
    with pytest.raises(Unauthenticated):
        await world.session_cases.authenticate(theirs)
