"""Email verification and change of address, on the fakes."""

from __future__ import annotations

import pytest

from app.domain.errors import EmailTaken, InvalidCredentials, Throttled, WrongPassword
from app.domain.events import EventType, user_deleted
from app.domain.mail import MessageKind
from app.domain.throttling import LimitedAction
from app.domain.users import Email, canonical_email
from app.domain.verification import (
    EmailAlreadyVerified,
    EmailNotVerified,
    InvalidVerificationToken,
)
from tests.unit.world import CLIENT, PASSWORD, World


@pytest.fixture
def world() -> World:
    return World()


def _token(world: World, index: int = -1) -> str:
    token = world.users.verifications[index].message.token
    assert token is not None
    return token


async def test_register_writes_a_verification_to_the_address_with_the_user(world):
    user = await world.register("ada@example.com")
    (verification,) = world.users.verifications
    assert verification.user_id == user.id and not verification.is_change
    assert verification.message.kind is MessageKind.EMAIL_VERIFICATION
    assert verification.message.recipient == "ada@example.com"
    assert not user.email_verified


async def test_a_token_verifies_the_address_once(world):
    user = await world.register()
    verified = await world.verification.verify(_token(world))
    assert verified.email_verified and world.principal(user).user.email_verified
    assert world.users.events[-1].type is EventType.USER_EMAIL_VERIFIED
    assert "email" not in world.users.events[-1].data
    with pytest.raises(InvalidVerificationToken):
        await world.verification.verify(_token(world))


async def test_an_expired_or_forged_token_verifies_nothing(world):
    user = await world.register()
    world.clock.advance(24 * 3600 + 1)
    with pytest.raises(InvalidVerificationToken):
        await world.verification.verify(_token(world))
    with pytest.raises(InvalidVerificationToken):
        await world.verification.verify("forged")
    assert not world.principal(user).user.email_verified


async def test_resend_is_throttled_per_account_and_address_and_replaces_the_token(world):
    user = await world.register()
    first = _token(world)
    await world.verification.resend(world.principal(user), CLIENT)
    assert world.throttle.actions[-1] == (LimitedAction.RESEND_VERIFICATION, CLIENT)
    assert world.throttle.action_accounts[-1] == canonical_email(user.email)
    with pytest.raises(InvalidVerificationToken):
        await world.verification.verify(first)
    await world.verification.verify(_token(world))
    with pytest.raises(EmailAlreadyVerified):
        await world.verification.resend(world.principal(user), CLIENT)
    world.throttle.refuse_with = Throttled(5.0, action="resend_verification", scope="account")
    with pytest.raises(Throttled):
        await world.verification.resend(world.principal(user), CLIENT)


async def test_login_requires_a_verified_address_only_when_set_and_only_to_a_right_password(
    monkeypatch,
):
    world = World(verification_required=True)
    await world.register()
    with pytest.raises(InvalidCredentials):
        await world.user_cases.login(world.attempt("ada@example.com", "wrong password!!"), CLIENT)
    assert len(world.users.verifications) == 1  # a wrong password sends nothing
    with pytest.raises(EmailNotVerified):
        await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    assert not world.sessions.sessions
    assert len(world.users.verifications) == 2  # no session to ask with: a new link is sent
    refused = Throttled(5.0, action="resend_verification", scope="account")

    async def throttled(*_: object, **__: object) -> None:
        raise refused

    monkeypatch.setattr(world.throttle, "admit_action", throttled)
    with pytest.raises(EmailNotVerified):  # a throttled resend leaves the answer as it was
        await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)
    assert len(world.users.verifications) == 2
    await world.verification.verify(_token(world))
    await world.user_cases.login(world.attempt("ada@example.com", PASSWORD), CLIENT)


async def test_change_email_applies_only_when_the_new_address_is_verified(world):
    user = await world.register()
    caller = world.principal(user)
    await world.verification.change_email(
        caller, world.offered(PASSWORD), Email("new@example.com"), CLIENT
    )
    change = world.users.verifications[-1]
    assert change.is_change and change.message.recipient == "new@example.com"
    assert world.principal(user).user.email == "ada@example.com"
    changed = await world.verification.verify(_token(world))
    assert changed.email == "new@example.com" and changed.email_verified
    event = world.users.events[-1]
    assert event.type is EventType.USER_EMAIL_CHANGED
    assert dict(event.data) == {"previous_email": "ada@example.com", "email": "new@example.com"}
    (notice,) = world.verifications.messages
    assert notice.kind is MessageKind.EMAIL_CHANGED and notice.recipient == "ada@example.com"
    assert notice.token is None


async def test_a_token_for_the_old_address_does_not_verify_the_new_one(world):
    user = await world.register()
    first = _token(world)
    await world.verification.change_email(
        world.principal(user), world.offered(PASSWORD), Email("new@example.com"), CLIENT
    )
    await world.verification.verify(_token(world))
    with pytest.raises(InvalidVerificationToken):
        await world.verification.verify(first)


async def test_change_email_checks_the_password_and_the_address(world):
    user = await world.register()
    await world.register("taken@example.com")
    caller = world.principal(user)
    with pytest.raises(WrongPassword):
        await world.verification.change_email(
            caller, world.offered("not the password"), Email("x@example.com"), CLIENT
        )
    with pytest.raises(EmailTaken):
        await world.verification.change_email(
            caller, world.offered(PASSWORD), Email("TAKEN@example.com"), CLIENT
        )


async def test_an_address_taken_before_the_change_is_verified_is_refused_then(world):
    user = await world.register()
    await world.verification.change_email(
        world.principal(user), world.offered(PASSWORD), Email("new@example.com"), CLIENT
    )
    token = _token(world)
    await world.register("new@example.com")
    with pytest.raises(EmailTaken):
        await world.verification.verify(token)
    assert world.principal(user).user.email == "ada@example.com"


async def test_deleting_the_user_erases_both_addresses_from_the_change_event(world):
    user = await world.register()
    await world.verification.change_email(
        world.principal(user), world.offered(PASSWORD), Email("new@example.com"), CLIENT
    )
    await world.verification.verify(_token(world))
    await world.users.delete(user.id, user_deleted(user.id, None), actor=None)
    [changed] = [e for e in world.users.events if e.type is EventType.USER_EMAIL_CHANGED]
    assert not {"email", "previous_email"} & set(changed.data)
