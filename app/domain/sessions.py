"""Sessions: opaque bearer tokens of 256 random bits, and what is kept about them."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import NewType

from app.domain.errors import InvalidInput
from app.domain.users import User

SESSION_ID_BYTES = 32  # 256 bits
# Sessions imported from the Go service keep its ids, UUIDs (122 random bits):
# a rule on an id's form must accept those too (docs/moving-from-go.md).
HANDLE_BYTES = 16  # 128 bits, shown to the session's owner instead of the id
HANDLE_LENGTH = HANDLE_BYTES * 2

# A session's handle as :func:`parse_handle` accepts it: 32 lower-case hex digits.
SessionHandle = NewType("SessionHandle", str)


def new_session_id() -> str:
    """A fresh session id: 256 bits from the OS's CSPRNG, URL-safe base64."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def new_session_handle() -> str:
    """A fresh handle: random, unrelated to the id, so knowing it grants nothing."""
    return secrets.token_hex(HANDLE_BYTES)


def parse_handle(raw: str) -> SessionHandle:
    """A handle is 32 lower-case hex digits; ``InvalidInput`` otherwise."""
    value = raw.strip().lower()
    if len(value) != HANDLE_LENGTH or any(char not in "0123456789abcdef" for char in value):
        raise InvalidInput("handle", f"must be {HANDLE_LENGTH} hexadecimal digits")
    return SessionHandle(value)


class SessionEndReason(enum.StrEnum):
    """Why a session ended (``session.revoked`` events, the ended-sessions metric).

    Idle expiry is not among them: Redis drops an idle session silently.
    """

    LOGOUT = "logout"
    REVOKED = "revoked"
    LIFETIME = "lifetime"
    CAP = "cap"
    PASSWORD_CHANGE = "password_change"  # noqa: S105 (a reason, not a password)
    DISABLED = "disabled"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: its id (a secret: never log it) and the user it belongs to."""

    id: str
    user: User


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What a user may see of one of their sessions: never the id, only its handle."""

    handle: str
    created_at: datetime
    last_seen: datetime
    expires_at: datetime
    client_address: str
    user_agent: str
    current: bool
