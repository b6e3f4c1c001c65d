"""Password recovery: the reset token's rules, the grant a request makes, and its port.

A token is 32 random bytes (256 bits) in URL-safe base64, handed out only in
the message's link. The store keeps its SHA-256 digest, never the token: a
reader of the table cannot use what it reads. A token is valid until its
``expires_at`` (the request's time plus the configured lifetime, on the
service's clock), for one use, while it is its user's newest one, and while
the user's password is the one it was issued against (the store binds it to
the password hash of that time, so a change by any path kills it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.errors import InvalidInput
from app.domain.events import Event
from app.domain.mail import Message
from app.domain.users import AccountKey, Principal

TOKEN_BYTES = 32
# A token is 43 characters; anything far longer is not one (refused unhashed).
MAX_TOKEN_LENGTH = 128


def token_digest(token: str) -> bytes:
    """What the store keeps of ``token``, and looks it up by."""
    return hashlib.sha256(token.encode()).digest()


def parse_reset_token(raw: str) -> str:
    """The token of a ResetPassword request; ``InvalidInput`` for what cannot be one."""
    token = raw.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise invalid_token()
    return token


def invalid_token() -> InvalidInput:
    """One refusal for every dead token (forged, expired, used, superseded, outlived
    its password): the caller cannot tell which."""
    return InvalidInput("token", "is not valid or has expired; ask for a new one")


@dataclass(frozen=True, slots=True)
class ResetGrant:
    """A token issued to ``user_id``: its digest, when it was made and when it dies."""

    user_id: UUID
    digest: bytes = field(repr=False)
    created_at: datetime
    expires_at: datetime


class PasswordResets(Protocol):
    """Reset tokens and the changes they make, each with its event and message
    in one transaction (or one statement)."""

    async def holder(self, account: AccountKey) -> Principal | None:
        """The user with this canonical email, whatever their status."""
        ...

    async def issue(self, grant: ResetGrant, message: Message, requested: Event) -> bool:
        """Store ``grant`` (replacing the user's earlier token), queue ``message`` and
        add ``requested``, all or nothing, if ``grant.user_id`` names an active user;
        else change nothing. Whether it stored. Does the same work either way."""
        ...

    async def holder_of(self, digest: bytes, now: datetime) -> Principal | None:
        """The active user whose valid token has this digest at ``now``; None if none."""
        ...

    async def redeem(
        self,
        digest: bytes,
        now: datetime,
        user_id: UUID,
        password_hash: str,
        reset: Event,
        notice: Message,
    ) -> Principal | None:
        """If the token is still valid for ``user_id`` at ``now``: delete it, store the
        new hash, bump the sessions epoch, add ``reset`` and queue ``notice``, in one
        transaction; the user as changed. None (nothing changed) if it is not."""
        ...
