"""Passwords as the edge parses them: the policy a new password must meet, and
what a login (or a password change) offers as proof.

A new password that breaks the policy is invalid input: too short or long, or
too easy to guess (:meth:`PasswordPolicy.require_strong`, zxcvbn's estimate).
An offered password is never refused here: one longer than any valid password
is a failed attempt, throttled and recorded like any other, and is never hashed.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from typing import NewType

from zxcvbn import zxcvbn

from app.domain.errors import InvalidInput, WeakPassword

PASSWORD_MIN_LENGTH = 8
# The default longest password (``passwords.max_length``); a longer one is never right.
PASSWORD_MAX_LENGTH = 128
# The default minimum zxcvbn score (``passwords.min_score``): 3 is its authors' "safely
# unguessable" (10^8 guesses or more), moderate protection even offline against a slow hash.
PASSWORD_MIN_SCORE = 3
# zxcvbn's time grows steeply with length and with l33t characters (docs/security.md's
# "Password strength" gives the measurements), so only a password's start is judged.
# A password is at least as hard to guess as its start, so nothing weak passes.
STRENGTH_PREFIX_LENGTH = 16
# zxcvbn keeps the user inputs of a call in a module-level dictionary: calls must not overlap.
_ESTIMATOR_LOCK = threading.Lock()
_WORDS = re.compile(r"[^\W_]+")

# A new password that meets the policy (taken as given: never trimmed).
Password = NewType("Password", str)


@dataclass(frozen=True, slots=True)
class OfferedPassword:
    """A password offered as proof, as given; ``too_long`` ones are refused unhashed."""

    value: str = field(repr=False)
    too_long: bool


def strength_context(email: str, *names: str) -> list[str]:
    """What a password must not be made of: the email, its words (local part and
    domain) and the person's names, as zxcvbn's ``user_inputs``."""
    local, _, domain = email.rpartition("@")
    local_words, name_words = _WORDS.findall(local), _WORDS.findall(" ".join(names))
    # Joined forms too: zxcvbn scores "alicesmith" as two words, and two words pass.
    joined = ["".join(local_words), "".join(name_words), "".join(reversed(name_words))]
    words = [email, local, *local_words, *_WORDS.findall(domain), *name_words, *joined]
    return [word for word in dict.fromkeys(word.lower() for word in words) if word]


def _refusal(warning: str, suggestions: list[str]) -> str:
    """zxcvbn's warning and suggestions, for the user."""
    said = " ".join(part for part in [warning, *suggestions] if part)
    return f"is too easy to guess. {said or 'Add another word or two.'}"


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """How long a password may be (``passwords.min_length`` and ``max_length``) and
    how hard to guess (``passwords.min_score``, zxcvbn's 0 to 4)."""

    min_length: int = PASSWORD_MIN_LENGTH
    max_length: int = PASSWORD_MAX_LENGTH
    min_score: int = PASSWORD_MIN_SCORE

    def weakness(self, password: str, context: list[str]) -> str | None:
        """Why ``password`` is too easy to guess for someone who knows ``context``; None
        if it is not. CPU-bound: on the event loop, call :meth:`require_strong` instead."""
        if self.min_score <= 0:
            return None
        with _ESTIMATOR_LOCK:
            estimate = zxcvbn(password[:STRENGTH_PREFIX_LENGTH], user_inputs=context)
        if estimate["score"] >= self.min_score:
            return None
        feedback = estimate["feedback"]
        return _refusal(feedback["warning"], feedback["suggestions"])

    async def require_strong(self, password: Password, *, field: str, context: list[str]) -> None:
        """``WeakPassword`` naming ``field`` if ``password`` is too easy to guess; judged
        in a thread, off the event loop."""
        problem = await asyncio.to_thread(self.weakness, password, context)
        if problem is not None:
            raise WeakPassword(field, problem)

    def new_password(self, raw: str) -> Password:
        """A password to store: within the lengths and free of NUL; ``InvalidInput`` otherwise."""
        if not self.min_length <= len(raw) <= self.max_length:
            raise InvalidInput(
                "password", f"must be between {self.min_length} and {self.max_length} characters"
            )
        if "\x00" in raw:
            raise InvalidInput("password", "must not contain NUL characters")
        return Password(raw)

    def offered(self, raw: str) -> OfferedPassword:
        """A password offered as proof; never refused here (see the module's docstring)."""
        return OfferedPassword(raw, too_long=len(raw) > self.max_length)
