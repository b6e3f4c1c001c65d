"""Password recovery on the in-memory fakes: the alike answer, the token's rules, the reset."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from app.domain.clients import Client
from app.domain.errors import InvalidInput, Throttled, WeakPassword
from app.domain.events import EventType
from app.domain.mail import MessageKind
from app.domain.passwords import Password
from app.domain.recovery import token_digest
from app.domain.second_factor import InvalidCode, TotpCode
from app.domain.sessions import SessionEndReason
from app.domain.throttling import LimitedAction
from app.domain.users import Email, User, canonical_email
from tests.unit.world import CLIENT, PASSWORD, World

NEW_PASSWORD = Password("a fresh and rather long passphrase")


@pytest.fixture
def world() -> World:
    return World()


async def _requested(world: World, user: User) -> str:
    """Ask for a reset of ``user``'s password; the token its message carries."""
    await world.recovery.request_reset(Email(user.email), CLIENT)
    token = world.resets.messages[-1].token
    assert token is not None
    return token


async def test_only_a_known_active_account_gets_a_message_and_an_event(world):
    user = await world.register()
    await world.recovery.request_reset(Email(user.email), CLIENT)
    [message] = world.resets.messages
    assert message.kind is MessageKind.PASSWORD_RESET
    assert message.recipient == user.email
    assert message.values == {"first_name": "Ada"}
    [requested] = world.resets.events
    assert requested.type is EventType.USER_PASSWORD_RESET_REQUESTED
    assert requested.user_id == user.id
    assert message.token is not None and message.token not in str(requested.data)


async def test_unknown_and_disabled_addresses_get_nothing_but_do_the_same_work(world):
    admin = await world.register("root@example.com")
    disabled = await world.register("gone@example.com")
    world.users.rows[disabled.id] = (
        world.principal(disabled).__class__(
            disabled, world.principal(disabled).status.DISABLED, 2, 1
        ),
        world.users.rows[disabled.id][1],
    )
    for email in ("nobody@example.com", disabled.email, admin.email):
        await world.recovery.request_reset(Email(email), CLIENT)
    assert len(world.resets.issued) == 3  # the same write, asked on every path
    assert [m.recipient for m in world.resets.messages] == [admin.email]
    assert world.throttle.account_actions == [
        (LimitedAction.PASSWORD_RESET_REQUEST, canonical_email(email))
        for email in ("nobody@example.com", disabled.email, admin.email)
    ]


async def test_the_token_is_stored_as_its_digest_with_the_configured_lifetime(world):
    user = await world.register()
    token = await _requested(world, user)
    grant, _ = world.resets.grants[user.id]
    assert grant.digest == token_digest(token) and token.encode() not in grant.digest
    assert grant.expires_at - grant.created_at == timedelta(seconds=900)
    assert "32-bytes" in token  # the fake names the size the use case asked for


async def test_a_reset_changes_the_password_ends_every_session_and_sends_the_notice(world):
    user = await world.register()
    sessions = [(await world.user_cases.login(world.attempt(user.email), CLIENT)).session.id]
    token = await _requested(world, user)
    ended = await world.recovery.reset_password(token, NEW_PASSWORD, CLIENT)
    assert ended == len(sessions)
    assert world.users.rows[user.id][1] == f"v1:{NEW_PASSWORD}"
    assert world.principal(user).sessions_epoch == 1
    assert world.metrics.ended == {SessionEndReason.PASSWORD_CHANGE: 1}
    assert world.resets.events[-1].type is EventType.USER_PASSWORD_RESET
    notice = world.resets.messages[-1]
    assert notice.kind is MessageKind.PASSWORD_CHANGED and notice.token is None
    assert notice.recipient == user.email


async def test_a_token_works_once(world):
    user = await world.register()
    token = await _requested(world, user)
    await world.recovery.reset_password(token, NEW_PASSWORD, CLIENT)
    with pytest.raises(InvalidInput) as refused:
        await world.recovery.reset_password(token, Password("yet another long passphrase"), CLIENT)
    assert refused.value.field == "token"


async def test_an_expired_a_superseded_and_a_forged_token_are_refused_alike(world):
    user = await world.register()
    first = await _requested(world, user)
    second = await _requested(world, user)
    world.clock.advance(899)
    refusals = []
    for token in (first, "forged-token"):
        with pytest.raises(InvalidInput) as refused:
            await world.recovery.reset_password(token, NEW_PASSWORD, CLIENT)
        refusals.append(str(refused.value))
    world.clock.advance(2)
    with pytest.raises(InvalidInput) as refused:
        await world.recovery.reset_password(second, NEW_PASSWORD, CLIENT)
    assert len({*refusals, str(refused.value)}) == 1
    assert world.users.rows[user.id][1] == f"v1:{PASSWORD}"


async def test_a_token_dies_when_the_password_changes_by_another_path(world):
    user = await world.register()
    token = await _requested(world, user)
    session = (await world.user_cases.login(world.attempt(user.email), CLIENT)).session.id
    await world.accounts.change_password(
        world.principal(user), session, world.offered(PASSWORD), NEW_PASSWORD, CLIENT
    )
    with pytest.raises(InvalidInput):
        await world.recovery.reset_password(token, Password("yet another long passphrase"), CLIENT)
    [notice] = world.users.messages  # ChangePassword's own notice
    assert notice.kind is MessageKind.PASSWORD_CHANGED and notice.recipient == user.email


async def test_a_password_easy_to_guess_from_the_users_names_is_refused_and_the_token_kept(world):
    user = await world.register()
    token = await _requested(world, user)
    guessable = Password("adalovelace2026")  # strong but for her names
    with pytest.raises(WeakPassword):
        await world.recovery.reset_password(token, guessable, CLIENT)
    await world.recovery.reset_password(token, NEW_PASSWORD, CLIENT)


async def test_a_user_with_a_second_factor_must_send_a_current_code(world):
    user = await world.register()
    caller = world.principal(user)
    secret = (await world.second_factor.enroll(caller)).secret
    await world.second_factor.confirm(
        caller, TotpCode(pyotp.TOTP(secret).at(world.clock.now())), CLIENT
    )
    world.clock.advance(60)
    token = await _requested(world, user)
    with pytest.raises(InvalidCode):
        await world.recovery.reset_password(token, NEW_PASSWORD, CLIENT)
    code = TotpCode(pyotp.TOTP(secret).at(world.clock.now()))
    await world.recovery.reset_password(token, NEW_PASSWORD, CLIENT, code)
    assert world.users.rows[user.id][1] == f"v1:{NEW_PASSWORD}"


async def test_requests_and_guesses_are_throttled_before_any_work(world):
    user = await world.register()
    token = await _requested(world, user)
    world.throttle.refuse_with = Throttled(5.0, action="password_reset_guess", scope="address")
    with pytest.raises(Throttled):
        await world.recovery.reset_password(token, NEW_PASSWORD, CLIENT)
    with pytest.raises(Throttled):
        await world.recovery.request_reset(Email(user.email), Client(address="192.0.2.9"))
    assert len(world.resets.issued) == 1
    assert world.users.rows[user.id][1] == f"v1:{PASSWORD}"
