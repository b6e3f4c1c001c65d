"""The canonical account key: made once with the login attempt, carried to every port."""

from __future__ import annotations

from app.domain.passwords import PasswordPolicy
from app.domain.users import canonical_email, parse_login
from tests.unit.world import CLIENT, PASSWORD, World


def test_a_login_attempt_carries_the_account_key_of_its_address():
    attempt = parse_login(" \uff4bate@Example.com ", PASSWORD, PasswordPolicy())
    assert attempt.email == "\uff4bate@example.com"  # stored and shown as typed
    assert attempt.account == canonical_email("kate@example.com") == "kate@example.com"


def test_an_invalid_address_has_no_account_key():
    assert parse_login("not an address", PASSWORD, PasswordPolicy()).account is None


async def test_every_spelling_of_an_address_logs_in_to_and_counts_against_one_account():
    world = World()
    user = await world.register("kate@example.com")
    for spelling in ("KATE@example.com", "\uff4bate@example.com"):
        logged_in = await world.user_cases.login(world.attempt(spelling), CLIENT)
        assert logged_in.session.user.id == user.id
    assert {account for account, _ in world.throttle.admitted} == {"kate@example.com"}
    assert world.throttle.succeeded_for == ["kate@example.com"] * 2
