"""Proving that an address is its user's: the verification token, its rules, its errors
and the port that stores it.

A token is 32 random bytes (256 bits) in URL-safe base64, put in the link of
one message and stored only as its SHA-256 digest: whoever reads the table
cannot use it (a token that random needs no slow hash). It is bound to the
address it verifies (its canonical form): the user's current one, or for a
change of address the new one. It is used once, dies after the lifetime
setting, and a newer token of the same purpose for the same user replaces it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.errors import DomainError, InvalidInput
from app.domain.events import Event
from app.domain.mail import Message
from app.domain.users import AccountKey, Email, Principal, new_email

TOKEN_BYTES = 32
# URL-safe base64 of 32 bytes is 43 characters; anything far longer is not a token.
MAX_TOKEN_LENGTH = 128


class InvalidVerificationToken(DomainError):
    """The token is unknown, used, expired, replaced, or for an address the user no
    longer has: one answer for all, so a guesser learns nothing."""

    message = "the verification link is invalid or has expired"


class EmailNotVerified(DomainError):
    """A correct password for an address not verified yet, while Login requires it."""

    message = "the email address is not verified"


class EmailAlreadyVerified(DomainError):
    """ResendVerification for an address already verified."""

    message = "the email address is already verified"


def token_digest(token: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_verification_token(raw: str) -> str:
    """A token as a link carries it; ``InvalidInput`` when it cannot be one."""
    token = raw.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidInput("token", "must be the token of a verification link")
    return token


def parse_new_email(raw: str) -> Email:
    """The address a change asks for, by Register's rules; errors name ``new_email``."""
    try:
        return new_email(raw)
    except InvalidInput as err:
        problem = err.public_message.removeprefix(f"{err.field}: ")
        raise InvalidInput("new_email", problem) from err


@dataclass(frozen=True, slots=True)
class Verification:
    """A token to store, made with the message that carries it (to be written together).

    ``is_change``: the token applies a change of the user's address to ``email``;
    otherwise it verifies ``email`` as the user's current address.
    """

    user_id: UUID
    email: str
    account: AccountKey
    is_change: bool
    expires_at: datetime
    message: Message = field(repr=False)

    @property
    def digest(self) -> str:
        assert self.message.token is not None
        return token_digest(self.message.token)


@dataclass(frozen=True, slots=True)
class Verified:
    """What a used token did: the principal after it, and the address before it."""

    principal: Principal
    previous_email: str
    changed: bool


class VerificationRepository(Protocol):
    """Verification tokens (by digest) in PostgreSQL, with the messages that carry them."""

    async def issue(self, verification: Verification) -> None:
        """Store ``verification`` and its message in one transaction; older unused
        tokens of the same user and purpose die with it (only the newest is valid)."""
        ...

    async def use(
        self,
        digest: str,
        now: datetime,
        *,
        verified: Callable[[UUID], Event],
        changed: Callable[[UUID, str, str], Event],
        notice: Callable[[Principal, str], Message],
    ) -> Verified:
        """Use the token with ``digest`` once, in one transaction with its effect.

        A token to verify marks the address verified (``verified(user_id)`` is
        its event) only if it is still the user's address; a change's token
        sets the new address, verified, under the unique index on canonical
        addresses (``EmailTaken`` when it is taken meanwhile: nothing changes and
        the token stays unused), with ``changed(user_id, old, new)`` and
        ``notice(principal, old)``, the message that tells the old address.
        ``InvalidVerificationToken`` when unknown, used, expired at ``now`` or
        bound to an address the user no longer has.
        """
        ...
