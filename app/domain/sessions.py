"""Sessions: opaque bearer tokens of 256 random bits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from app.domain.users import User

SESSION_ID_BYTES = 32  # 256 bits


def new_session_id() -> str:
    """A fresh session id: 256 bits from the OS's CSPRNG, URL-safe base64."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: its id (a secret: never log it) and the user it belongs to."""

    id: str
    user: User
