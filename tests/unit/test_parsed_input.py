"""The domain's constructors the edge parses each request with, without any I/O."""

from __future__ import annotations

import pytest

from app.domain.errors import InvalidInput
from app.domain.passwords import PasswordPolicy
from app.domain.sessions import parse_handle
from app.domain.users import (
    Registration,
    Role,
    new_user_id,
    normalise_email,
    parse_login,
    parse_registration,
    parse_role_assignment,
)

POLICY = PasswordPolicy(min_length=8, max_length=16)


def test_a_new_password_within_the_policy_is_kept_exactly_as_given() -> None:
    assert POLICY.new_password("  8 chars ") == "  8 chars "


@pytest.mark.parametrize("raw", ["seven77", "x" * 17])
def test_a_new_password_outside_the_lengths_is_invalid_and_says_the_lengths(raw: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        POLICY.new_password(raw)
    assert refused.value.field == "password"
    assert "between 8 and 16 characters" in str(refused.value)


def test_a_new_password_with_nul_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        POLICY.new_password("long enough\x00")


@pytest.mark.parametrize(("raw", "too_long"), [("", False), ("x" * 16, False), ("x" * 17, True)])
def test_an_offered_password_is_never_refused_only_marked_too_long(
    raw: str, too_long: bool
) -> None:
    offered = POLICY.offered(raw)
    assert (offered.value, offered.too_long) == (raw, too_long)


def test_no_parsed_value_shows_its_password_in_its_repr() -> None:
    attempt = parse_login("ada@example.com", "a secret passphrase", POLICY)
    registration = parse_registration(
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        password="a secret",
        role="",
        avatar="",
        policy=POLICY,
    )
    assert "secret" not in repr(attempt)
    assert "secret" not in repr(registration)


def test_a_login_with_a_valid_email_carries_it_normalised() -> None:
    attempt = parse_login("  Ada@Example.COM ", "pw", POLICY)
    assert attempt.email == "ada@example.com"
    assert attempt.email_error is None


def test_a_login_with_an_invalid_email_is_still_an_attempt_and_keeps_why() -> None:
    attempt = parse_login("not an email", "pw", POLICY)
    assert attempt.email is None
    assert isinstance(attempt.email_error, InvalidInput)


def test_a_registration_takes_the_policy_it_is_given() -> None:
    with pytest.raises(InvalidInput, match="between 8 and 16"):
        parse_registration(
            email="ada@example.com",
            first_name="Ada",
            last_name="Lovelace",
            password="x" * 17,
            role="",
            avatar="",
            policy=POLICY,
        )


def test_each_new_user_gets_its_own_id_before_it_is_stored() -> None:
    registration = Registration(
        email=normalise_email("ada@example.com"),
        first_name="Ada",
        last_name="Lovelace",
        password=POLICY.new_password("long enough"),
        role=Role.USER,
        avatar=None,
    )
    first, second = registration.hashed("hash one"), registration.hashed("hash two")
    assert first.id != second.id
    assert new_user_id().version == 4


USER_ID = "8d5a18e4-a723-44fc-9bd5-838639882e65"


def test_a_role_assignment_names_a_user_and_a_stated_role() -> None:
    user_id, role = parse_role_assignment(USER_ID.upper(), " Service ")
    assert (str(user_id), role) == (USER_ID, Role.SERVICE)


@pytest.mark.parametrize(
    ("raw_user_id", "raw_role", "message"),
    [
        ("not a uuid", "  ", "role: is required"),
        ("not a uuid", "root", "uuid: is not a valid UUID"),
        (USER_ID, "root", "role: must be 'user', 'admin' or 'service'"),
    ],
)
def test_a_role_assignment_reports_a_missing_role_then_the_user_then_the_role(
    raw_user_id: str, raw_role: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_role_assignment(raw_user_id, raw_role)
    assert str(refused.value) == message


def test_a_handle_is_lower_cased_and_must_be_32_hex_digits() -> None:
    assert parse_handle(" " + "AB" * 16 + " ") == "ab" * 16
    with pytest.raises(InvalidInput, match="32 hexadecimal digits"):
        parse_handle("nope")
