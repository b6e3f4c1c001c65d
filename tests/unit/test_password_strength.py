"""The password policy's strength rule: zxcvbn's score, with the person as context."""

from __future__ import annotations

import pytest

from app.domain.errors import WeakPassword
from app.domain.passwords import (
    STRENGTH_PREFIX_LENGTH,
    Password,
    PasswordPolicy,
    strength_context,
)

POLICY = PasswordPolicy()
ALICE = strength_context("alice.smith@example.com", "Alice", "Smith")


def test_the_context_holds_the_email_its_words_and_the_names_joined():
    assert {"alice.smith@example.com", "alice", "smith", "example", "alicesmith"} <= set(ALICE)
    assert "smithalice" in ALICE


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaa", "password1", "qwertyuiop", "1234567890", "abcabcabcabc", "Password2024!"],
)
def test_common_repeated_and_keyboard_passwords_are_weak(password):
    assert POLICY.weakness(password, []) is not None


@pytest.mark.parametrize("password", ["alicesmith2024", "SmithAlice!", "smithalice99"])
def test_a_password_made_of_the_persons_email_or_names_is_weak_for_them_only(password):
    assert POLICY.weakness(password, ALICE) is not None
    assert POLICY.weakness(password, strength_context("bob@mail.test", "Bob", "Jones")) is None


def test_the_refusal_gives_zxcvbns_warning_and_advice():
    problem = POLICY.weakness("password1", [])
    assert problem == (
        "is too easy to guess. This is a very common password. "
        "Add another word or two. Uncommon words are better."
    )


def test_a_passphrase_is_strong():
    assert POLICY.weakness("correct horse battery staple", ALICE) is None


def test_only_the_start_is_judged_so_a_weak_start_is_refused_whatever_follows():
    weak_start = "a" * STRENGTH_PREFIX_LENGTH
    assert POLICY.weakness(weak_start + "x7$Qm!2vLp#9zR", []) is not None


def test_a_minimum_score_of_zero_turns_the_check_off():
    assert PasswordPolicy(min_score=0).weakness("aaaaaaaa", []) is None
    assert PasswordPolicy(min_score=1).weakness("aaaaaaaa", []) is not None


async def test_require_strong_names_the_field():
    with pytest.raises(WeakPassword) as raised:
        await POLICY.require_strong(Password("qwertyuiop"), field="new_password", context=[])
    assert raised.value.field == "new_password"
    assert raised.value.public_message.startswith("new_password: is too easy to guess.")
    await POLICY.require_strong(Password("correct horse battery staple"), field="p", context=[])
