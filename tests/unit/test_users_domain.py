"""The rules for valid input, without any I/O."""

from __future__ import annotations

import uuid

import pytest

from app.domain.errors import InvalidInput
from app.domain.users import Role, normalise_email, parse_registration, parse_role, parse_user_id


def _registration(**overrides: str):
    fields = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password": "long enough",
        "role": "",
        "avatar": "",
        **overrides,
    }
    return parse_registration(**fields)


def test_a_registration_is_trimmed_and_its_email_lower_cased():
    registration = _registration(
        email="  Ada@Example.COM ", first_name=" Ada ", last_name="\tLovelace ", avatar=" a.png "
    )
    assert registration.email == "ada@example.com"
    assert (registration.first_name, registration.last_name) == ("Ada", "Lovelace")
    assert registration.avatar == "a.png"
    assert registration.role is Role.USER


def test_the_password_is_kept_exactly_as_given():
    assert _registration(password="  spaced  ").password == "  spaced  "


@pytest.mark.parametrize("length", [8, 128])
def test_passwords_at_the_length_bounds_are_accepted(length):
    assert len(_registration(password="p" * length).password) == length


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": ""}, "email"),
        ({"email": "no-at-sign"}, "email"),
        ({"email": "x" * 245 + "@example.com"}, "email"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": "n" * 65}, "first_name"),
        ({"last_name": "line\nbreak"}, "last_name"),
        ({"password": "p" * 7}, "password"),
        ({"password": "p" * 129}, "password"),
        ({"password": "nul\x00password"}, "password"),
        ({"avatar": "a" * 251}, "avatar"),
        ({"role": "superuser"}, "role"),
    ],
)
def test_invalid_fields_are_named_in_the_error(overrides, field):
    with pytest.raises(InvalidInput) as caught:
        _registration(**overrides)
    assert caught.value.field == field


def test_names_of_64_characters_in_any_script_are_accepted():
    assert _registration(first_name="Ж" * 64).first_name == "Ж" * 64


@pytest.mark.parametrize(
    ("raw", "role"), [("", Role.USER), ("USER", Role.USER), ("admin", Role.ADMIN)]
)
def test_roles_are_parsed_case_insensitively(raw, role):
    assert parse_role(raw) is role


def test_user_ids_accept_any_uuid_spelling_and_refuse_the_rest():
    value = uuid.uuid4()
    assert parse_user_id(str(value).upper()) == value
    assert parse_user_id(value.hex) == value
    with pytest.raises(InvalidInput):
        parse_user_id("1234")


def test_an_email_of_254_characters_is_accepted_and_255_refused():
    domain = "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
    longest = "a" * 64 + "@" + domain
    assert len(longest) == 254
    assert normalise_email(longest) == longest
    with pytest.raises(InvalidInput):
        normalise_email("a" * 64 + "@e" + domain)
