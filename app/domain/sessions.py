"""Sessions: opaque bearer tokens of 256 random bits, what is kept about them, and
the rules that decide when one ends.

The rules are plain functions over plain values, so that the in-memory store
and the use cases apply them as they are. The Redis store applies the same
rules atomically in its Lua scripts (``app/adapters/redis/session_scripts.py``,
whose comments name the rule each step applies); ``tests/contract`` holds both
stores to them.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NewType
from uuid import UUID

from app.domain.errors import InvalidInput
from app.domain.users import Principal, User

SESSION_ID_BYTES = 32  # 256 bits
# Sessions imported from the Go service keep its ids, UUIDs (122 random bits):
# a rule on an id's form must accept those too (docs/moving-from-go.md).
HANDLE_BYTES = 16  # 128 bits, shown to the session's owner instead of the id
HANDLE_LENGTH = HANDLE_BYTES * 2

# A session's handle as :func:`parse_handle` accepts it: 32 lower-case hex digits.
SessionHandle = NewType("SessionHandle", str)


# A session id is its secret, then this, then its user's id (32 hex digits): the
# routing part, so a store that keeps each user's sessions together (one slot of a
# Redis Cluster) finds a session from its id alone. See docs/adr/0006.
ROUTE_SEPARATOR = "."


def new_session_id(user_id: UUID) -> str:
    """A fresh session id: 256 bits from the OS's CSPRNG (URL-safe base64), then its route.

    The secret is what makes the id unguessable; the route names the user,
    which the id's holder learns from GetMe anyway.
    """
    return f"{secrets.token_urlsafe(SESSION_ID_BYTES)}{ROUTE_SEPARATOR}{user_id.hex}"


def session_owner(session_id: str) -> UUID | None:
    """The user an id's routing part names; None for an id without one.

    Ids issued before ids had a route, and sessions imported from the Go
    service (UUIDs), have none. A route is only a hint: a store finds the
    session under the digest of the whole id, so a forged route finds nothing.
    """
    _, separator, route = session_id.rpartition(ROUTE_SEPARATOR)
    if not separator or len(route) != 32:
        return None
    try:
        return UUID(hex=route)
    except ValueError:
        return None


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
    # Made by CompleteLogin, with a second factor.
    second_factor: bool = False


@dataclass(frozen=True, slots=True)
class SessionTimes:
    """When a session was opened, last used, and must end however busy it is.

    Every moment is the store's clock's, never the calling instance's.
    """

    created_at: datetime
    last_seen: datetime
    expires_at: datetime

    @classmethod
    def opened(cls, now: datetime, lifetime: timedelta) -> SessionTimes:
        """A session opened ``now`` ends at the latest ``lifetime`` later."""
        return cls(created_at=now, last_seen=now, expires_at=now + lifetime)

    def touched(self, now: datetime) -> SessionTimes:
        """The session used ``now``: its idle timeout starts again."""
        return SessionTimes(self.created_at, now, self.expires_at)

    def idle_deadline(self, idle_timeout: timedelta) -> datetime:
        """When the session goes unless used again: an idle timeout after its last
        use, never past its absolute expiry. It then simply goes (no event)."""
        return min(self.last_seen + idle_timeout, self.expires_at)

    def outlived(self, now: datetime) -> bool:
        """Whether the session has reached its absolute expiry."""
        return now >= self.expires_at


def ended_by_principal(
    principal: Principal, session_epoch: int, bumped_by: SessionEndReason | None = None
) -> SessionEndReason | None:
    """Why the user as it is now ends a session made under ``session_epoch``, if it does.

    A disabled user ends every session; a user whose sessions epoch moved past
    the session's ends it for the reason of the move (``bumped_by``, when the
    store knows it, else ``REVOKED``). The same rule refuses a new session
    whose principal was read before a disable or a revocation was stored.
    """
    if not principal.active:
        return SessionEndReason.DISABLED
    if principal.sessions_epoch > session_epoch:
        return bumped_by or SessionEndReason.REVOKED
    return None


def ending(
    times: SessionTimes,
    session_epoch: int,
    principal: Principal | None,
    now: datetime,
    bumped_by: SessionEndReason | None = None,
) -> SessionEndReason | None:
    """Why using the session ``now`` ends it, if it does: first its lifetime, then
    its user (:func:`ended_by_principal`; nothing is decided without a principal)."""
    if times.outlived(now):
        return SessionEndReason.LIFETIME
    if principal is None:
        return None
    return ended_by_principal(principal, session_epoch, bumped_by)


def is_listed(times: SessionTimes, session_epoch: int, principal_epoch: int, now: datetime) -> bool:
    """Whether a stored session is shown among its user's sessions: not past its
    lifetime and not made under an older sessions epoch than the user's."""
    return not times.outlived(now) and session_epoch >= principal_epoch


def over_cap(count: int, cap: int) -> int:
    """How many of a user's ``count`` sessions (the oldest) the per-user cap ends."""
    return max(count - cap, 0)


def replaces_principal(stored_version: int | None, version: int) -> bool:
    """Whether a principal of ``version`` may be written over the stored one:
    never over a newer one, so a slow writer cannot bring an old role back."""
    return stored_version is None or stored_version <= version


def is_stale(fresh_until: datetime, now: datetime) -> bool:
    """Whether a principal stored with ``fresh_until`` must be read again from the
    repository before it is trusted."""
    return fresh_until <= now
