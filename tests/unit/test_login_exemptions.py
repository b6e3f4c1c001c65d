"""Login's device tokens, outages and events on fakes: what reaches the throttle and the outbox."""

from __future__ import annotations

import dataclasses

import pytest
from structlog.testing import capture_logs

from app.domain.errors import InvalidCredentials, PermissionDenied, StoreUnavailable, Throttled
from app.domain.events import EventType
from app.domain.throttling import ThrottleTarget, parse_throttle_target
from app.domain.users import AccountKey, Role
from tests.unit.world import CLIENT, PASSWORD, World


@pytest.fixture
def world() -> World:
    return World()


async def test_a_login_hands_out_a_device_token_that_the_next_login_presents(world):
    await world.register()
    first = await world.user_cases.login(world.attempt("ada@example.com"), CLIENT)
    assert first.device_token in world.devices.issued
    await world.user_cases.login(
        world.attempt("Ada@Example.com"), CLIENT, device_token=first.device_token
    )
    assert world.throttle.devices[0] is None
    assert world.throttle.devices[1] is not None


async def test_a_token_of_another_account_or_a_forged_one_exempts_nothing(world):
    await world.register()
    await world.register("bob@example.com")
    bobs = (await world.user_cases.login(world.attempt("bob@example.com"), CLIENT)).device_token
    for token in (bobs, "device:ada@example.com:99"):
        await world.user_cases.login(world.attempt("ada@example.com"), CLIENT, device_token=token)
    assert world.throttle.devices[1:] == [None, None]


async def test_an_attempt_the_database_could_not_judge_is_taken_back(world):
    await world.register()
    world.users.broken = True
    with pytest.raises(StoreUnavailable):
        await world.user_cases.login(world.attempt("ada@example.com"), CLIENT)
    assert world.throttle.withdrawn == [("ada@example.com", CLIENT, None)]
    assert world.throttle.succeeded_for == []


async def test_a_take_back_that_fails_too_is_logged_and_the_outage_answered(world):
    await world.register()
    world.users.broken = True
    world.throttle.withdraw_fails = True
    with capture_logs() as logs, pytest.raises(StoreUnavailable):
        await world.user_cases.login(world.attempt("ada@example.com"), CLIENT)
    assert [entry["event"] for entry in logs] == [
        "login attempt not taken back, the throttle's store is unavailable"
    ]


async def test_a_judged_wrong_password_is_not_taken_back(world):
    await world.register()
    with pytest.raises(InvalidCredentials):
        await world.user_cases.login(world.attempt("ada@example.com", "wrong password"), CLIENT)
    assert world.throttle.withdrawn == []


@pytest.mark.parametrize("email", ["nobody@example.com", "not an email"])
async def test_a_failed_login_names_no_email_of_a_non_user(world, email):
    with pytest.raises(InvalidCredentials):
        await world.user_cases.login(world.attempt(email, PASSWORD), CLIENT)
    [event] = world.outbox.events
    assert event.type is EventType.USER_LOGIN_FAILED
    assert "email" not in event.data


async def test_an_account_block_of_a_non_user_names_no_email(world):
    world.throttle.refuse_with = Throttled(1.0, action="login", scope="account", first_refusal=True)
    with pytest.raises(Throttled):
        await world.user_cases.login(world.attempt("nobody@example.com"), CLIENT)
    [event] = world.outbox.events
    assert event.type is EventType.USER_LOGIN_THROTTLED
    assert "email" not in event.data


async def test_only_an_admin_clears_a_throttle(world):
    user = await world.register()
    admin = dataclasses.replace(
        world.principal(user), user=dataclasses.replace(user, role=Role.ADMIN)
    )
    target = parse_throttle_target(" Ada@Example.com ", "2001:db8::1")
    assert target == ThrottleTarget(
        account=AccountKey("ada@example.com"), address_group="2001:db8::/64"
    )
    with pytest.raises(PermissionDenied):
        await world.throttling.clear_as(world.principal(user), target)
    assert await world.throttling.clear_as(admin, target) == 2
    assert world.throttle.cleared == [("ada@example.com", "2001:db8::/64")]
