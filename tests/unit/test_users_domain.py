"""The rules for valid input, without any I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.domain.passwords import PasswordPolicy
from app.domain.users import (
    FactorPolicy,
    Registration,
    Role,
    User,
    canonical_email,
    new_email,
    normalise_email,
    parse_registration,
    parse_role,
    parse_user_id,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def make_user_with_role(role: Role) -> User:
    return User(uuid.uuid4(), "a@example.com", "A", "B", role, None, EPOCH, EPOCH)


def _registration(**overrides: str) -> Registration:
    fields: dict[str, Any] = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password": "long enough",
        "role": "",
        "avatar": "",
        **overrides,
    }
    return parse_registration(**fields, policy=PasswordPolicy())


def test_a_registration_is_trimmed_and_its_email_lower_cased():
    registration = _registration(
        email="  Ada@Example.COM ",
        first_name=" Ada ",
        last_name="\tLovelace ",
        avatar=" https://example.com/a.png ",
    )
    assert registration.email == "ada@example.com"
    assert (registration.first_name, registration.last_name) == ("Ada", "Lovelace")
    assert registration.avatar == "https://example.com/a.png"
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


@pytest.mark.parametrize(
    "name",
    [
        "Ada\u200b",  # zero-width space
        "A\u200dda",  # zero-width joiner
        "\u202eadA",  # right-to-left override
        "\u2067Ada\u2069",  # right-to-left isolate … pop directional isolate
        "\ufeffAda",  # byte order mark
        "Ada\u00adLovelace",  # soft hyphen
        "\U000e0041da",  # tag letter A
        "\u115fAda",  # Hangul choseong filler
        "Ada\u1160",  # Hangul jungseong filler
        "A\u3164da",  # Hangul filler
        "Ada\uffa0",  # halfwidth Hangul filler
        "Ada\u2800",  # Braille pattern blank
        "Ada\u2028Lovelace",  # line separator
        "Ada\u2029Lovelace",  # paragraph separator
        "Ada\u034f",  # combining grapheme joiner
        "Ada\ufe0f",  # variation selector 16
        "Ada\u180e",  # Mongolian vowel separator
        "A\x85da",  # next line (Cc)
    ],
)
def test_names_with_invisible_or_bidi_control_characters_are_refused(name):
    with pytest.raises(InvalidInput) as caught:
        _registration(first_name=name)
    assert caught.value.field == "first_name"
    assert "control" in str(caught.value)


@given(st.characters(categories=["Cc", "Cf", "Zl", "Zp"]))
def test_no_control_format_or_separator_character_is_allowed_in_a_name(char):
    with pytest.raises(InvalidInput):
        _registration(last_name=f"Love{char}lace")


def test_a_name_made_only_of_fillers_is_refused_although_they_are_letters():
    fillers = "\u115f\u1160\u3164\uffa0"
    assert all(char.isalpha() for char in fillers)
    with pytest.raises(InvalidInput):
        _registration(first_name=fillers)


@pytest.mark.parametrize("name", ["123", "-", "...", "\u0301\u0301", "\U0001f600", "42 - 7"])
def test_a_name_needs_a_letter(name):
    with pytest.raises(InvalidInput) as caught:
        _registration(last_name=name)
    assert caught.value.field == "last_name"
    assert "letter" in str(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        "O'Brien",
        "Jean-Luc",
        "Jose\u0301",
        "李",
        "محمد",
        "Ада",
        "X Æ A-12",
        "d'Artagnan",
        "한국",  # Hangul syllables, not fillers
        "山田\u3000太郎",  # an ideographic space between family and given name
    ],
)
def test_names_with_letters_marks_and_punctuation_are_accepted(name):
    assert _registration(first_name=name).first_name == name


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("kate@example.com", "kate@example.com"),
        ("\uff4bate@example.com", "kate@example.com"),  # fullwidth k
        ("KATE@EXAMPLE.COM", "kate@example.com"),
        ("stra\u00dfe@example.com", "strasse@example.com"),  # sharp s folds to ss
        ("\ufb01n@example.com", "fin@example.com"),  # the fi ligature
        ("e\u0301@example.com", "\u00e9@example.com"),  # composed, whatever the input
    ],
)
def test_spellings_of_one_address_share_a_canonical_form(spelling, canonical):
    assert canonical_email(spelling) == canonical


@given(st.text())
def test_the_canonical_form_is_stable(text):
    assert canonical_email(canonical_email(text)) == canonical_email(text)


def test_the_address_is_kept_as_typed_only_lower_cased():
    assert _registration(email="\uff4bATE@example.com").email == "\uff4bate@example.com"


@pytest.mark.parametrize(
    "email",
    [
        "k\u0430te@example.com",  # Cyrillic a among Latin letters
        "kate@ex\u0430mple.com",  # … in a domain label
        "\u03bfpen@example.com",  # Greek omicron before Latin letters
        "ivan.\u0438\u0432\u0430\u043d@example.ru",  # two scripts in one local part
    ],
)
def test_a_new_address_mixing_scripts_in_a_part_is_refused(email):
    with pytest.raises(InvalidInput) as caught:
        new_email(email)
    assert caught.value.field == "email"
    # Lookups still accept it: such an address may have been registered before the rule.
    assert normalise_email(email) == email


@pytest.mark.parametrize(
    "email",
    [
        "\u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",
        "\u5c71\u7530\u305f\u308d\u3046@example.jp",  # Han and Hiragana: Japanese
        "\u95dc\u3105@example.tw",  # Han and Bopomofo
        "\ud64d\uae38\ub3d9\u674e@example.kr",  # Hangul and Han: Korean
        "ivan.petrov-2+tag@example.com",
        "\u0438\u0432\u0430\u043d@example.com",  # one script per part
    ],
)
def test_a_new_address_in_one_script_per_part_is_accepted(email):
    assert new_email(email) == email


def test_the_factor_policy_holds_back_only_its_roles_without_a_factor():
    admin = make_user_with_role(Role.ADMIN)
    service = make_user_with_role(Role.SERVICE)
    policy = FactorPolicy()
    assert policy.holds_back(admin, enrolled=False)
    assert not policy.holds_back(admin, enrolled=True)
    assert not policy.holds_back(service, enrolled=False)
    assert not FactorPolicy(frozenset()).holds_back(admin, enrolled=False)
