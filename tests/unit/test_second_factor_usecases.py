"""The second factor's rules on fakes: enrolment, the ticket, codes and their throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from app.domain import events
from app.domain.errors import Throttled
from app.domain.events import EventType
from app.domain.second_factor import (
    FactorAlreadyActive,
    FactorKeysMissing,
    InvalidCode,
    InvalidTicket,
    RecoveryCode,
    SecondFactorRequired,
    TotpCode,
    matching_step,
    parse_code,
)
from app.domain.users import Email, User
from app.usecases.users import LoggedIn, SecondFactorPending
from tests.unit.world import CLIENT, PASSWORD, World

MOMENT = datetime(2026, 1, 1, 12, 0, 15, tzinfo=UTC)  # mid-step


def _code(secret: str, world: World, steps: int = 0) -> TotpCode:
    return TotpCode(pyotp.TOTP(secret).at(world.clock.now() + timedelta(seconds=30 * steps)))


async def _enrolled(world: World) -> tuple[User, str, list[RecoveryCode]]:
    user = await world.register()
    caller = world.principal(user)
    secret = (await world.second_factor.enroll(caller)).secret
    codes = await world.second_factor.confirm(caller, _code(secret, world), CLIENT)
    world.clock.advance(300)
    return user, secret, codes


async def _ticket(world: World, user: User) -> str:
    pending = await world.user_cases.login_or_ticket(
        world.attempt(user.email), CLIENT, second_factor_supported=True
    )
    assert isinstance(pending, SecondFactorPending)
    return pending.ticket


def test_a_code_one_step_off_matches_and_two_steps_off_does_not():
    secret = pyotp.random_base32()
    step = int(MOMENT.timestamp()) // 30
    for offset in (-1, 0, 1):
        code = TotpCode(pyotp.TOTP(secret).at(MOMENT + timedelta(seconds=30 * offset)))
        assert matching_step(secret, code, MOMENT) == step + offset
    for offset in (-2, 2):
        code = TotpCode(pyotp.TOTP(secret).at(MOMENT + timedelta(seconds=30 * offset)))
        assert matching_step(secret, code, MOMENT) is None


def test_a_recovery_code_is_read_in_any_case_with_or_without_dashes():
    assert parse_code(" ABCD-EFGH-JKMN-PQRS ") == parse_code("abcdefghjkmnpqrs")
    assert parse_code("123456") == "123456"


async def test_enrolment_needs_a_key_and_no_active_factor():
    world = World()
    user, _, _ = await _enrolled(world)
    with pytest.raises(FactorAlreadyActive):
        await world.second_factor.enroll(world.principal(user))
    world.cipher.current = None
    with pytest.raises(FactorKeysMissing):
        await world.second_factor.enroll(world.principal(user))


async def test_a_right_password_alone_gives_no_session_and_counts_neither_way():
    world = World()
    user, _, _ = await _enrolled(world)
    with pytest.raises(SecondFactorRequired):
        await world.user_cases.login(world.attempt(user.email), CLIENT)
    assert await _ticket(world, user)
    assert world.sessions.sessions == {}
    assert len(world.throttle.withdrawn) == 2
    assert world.throttle.succeeded_for == ["ada@example.com"]  # the enrolment's login only


async def test_the_right_code_makes_a_session_made_with_a_second_factor():
    world = World()
    user, secret, _ = await _enrolled(world)
    ticket = await _ticket(world, user)
    logged_in = await world.login_completion.complete(ticket, _code(secret, world), CLIENT)
    assert isinstance(logged_in, LoggedIn)
    [stored] = [s for s in world.sessions.sessions.values() if s.second_factor]
    assert stored.user_id == user.id
    with pytest.raises(InvalidTicket):
        await world.login_completion.complete(ticket, _code(secret, world, 1), CLIENT)


async def test_a_password_change_after_the_ticket_ends_it():
    world = World()
    user, secret, _ = await _enrolled(world)
    ticket = await _ticket(world, user)
    changed = events.user_password_changed(user.id, events.Actor.of(user.id, CLIENT))
    await world.users.change_password(user.id, "new hash", changed)
    with pytest.raises(InvalidTicket):
        await world.login_completion.complete(ticket, _code(secret, world), CLIENT)


async def test_a_recovery_code_works_once_and_its_event_names_no_code():
    world = World()
    user, _, codes = await _enrolled(world)
    await world.login_completion.complete(await _ticket(world, user), codes[0], CLIENT)
    with pytest.raises(InvalidCode):
        await world.login_completion.complete(await _ticket(world, user), codes[0], CLIENT)
    [used] = [e for e in world.factors.events if e.type is EventType.USER_RECOVERY_CODE_USED]
    assert set(used.data) == {"actor_id", "source_address"}


async def test_a_throttled_guess_is_refused_before_the_code_is_checked():
    world = World()
    user, secret, _ = await _enrolled(world)
    ticket = await _ticket(world, user)
    world.throttle.refuse_with = Throttled(30.0)
    with pytest.raises(Throttled):
        await world.login_completion.complete(ticket, _code(secret, world), CLIENT)
    world.throttle.refuse_with = None
    assert await world.login_completion.complete(ticket, _code(secret, world), CLIENT)


async def test_regenerating_recovery_codes_needs_a_current_code_and_replaces_them_all():
    world = World()
    user, secret, old = await _enrolled(world)
    caller = world.principal(user)
    with pytest.raises(InvalidCode):
        await world.second_factor.regenerate_recovery_codes(caller, _code(secret, world, 5), CLIENT)
    new = await world.second_factor.regenerate_recovery_codes(caller, _code(secret, world), CLIENT)
    assert len(new) >= 10 and not set(new) & set(old)
    with pytest.raises(InvalidCode):
        await world.login_completion.complete(await _ticket(world, user), old[1], CLIENT)


async def test_change_email_of_a_user_with_a_factor_needs_a_current_code():
    world = World()
    user, secret, _ = await _enrolled(world)
    caller, password = world.principal(user), world.offered(PASSWORD)
    new = Email("new@example.com")
    with pytest.raises(InvalidCode):  # no code
        await world.verification.change_email(caller, password, new, CLIENT)
    wrong = _code(secret, world, steps=10)
    with pytest.raises(InvalidCode):
        await world.verification.change_email(caller, password, new, CLIENT, wrong)
    assert not any(v.is_change for v in world.users.verifications)
    await world.verification.change_email(caller, password, new, CLIENT, _code(secret, world))
    assert world.users.verifications[-1].is_change
