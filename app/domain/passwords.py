"""Passwords as the edge parses them: the policy a new password must meet, and
what a login (or a password change) offers as proof.

A new password that breaks the policy is invalid input. An offered password is
never refused here: one longer than any valid password is a failed attempt,
throttled and recorded like any other, and is never hashed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NewType

from app.domain.errors import InvalidInput

PASSWORD_MIN_LENGTH = 8
# The default longest password (``passwords.max_length``); a longer one is never right.
PASSWORD_MAX_LENGTH = 128

# A new password that meets the policy (taken as given: never trimmed).
Password = NewType("Password", str)


@dataclass(frozen=True, slots=True)
class OfferedPassword:
    """A password offered as proof, as given; ``too_long`` ones are refused unhashed."""

    value: str = field(repr=False)
    too_long: bool


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """How long a password may be (``passwords.min_length`` and ``max_length``)."""

    min_length: int = PASSWORD_MIN_LENGTH
    max_length: int = PASSWORD_MAX_LENGTH

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
