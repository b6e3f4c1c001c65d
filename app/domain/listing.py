"""Finding users: the filters of an admin's listing, its pages, and the ports that serve them.

Pages follow AIP-158 with keyset pagination: users are ordered by
``(created_at, id)``, a total order that no update changes, and each page
starts strictly after the last user of the one before. A walk through the
pages therefore lists every user that existed when it started exactly once,
whatever is inserted meanwhile; a user created during the walk appears at
most once (a late commit may carry an earlier ``created_at`` than users
already passed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import NewType, Protocol, TypeVar
from uuid import UUID

from app.domain.errors import InvalidInput
from app.domain.users import EMAIL_MAX_LENGTH, Role, User, UserStatus, canonical_email

# An issued token is about 150 characters; anything much longer is not one of ours.
PAGE_TOKEN_MAX_LENGTH = 1024

Choice = TypeVar("Choice", Role, UserStatus)

# A page token as the client sent it, bounded; the PageTokens port checks the rest.
PageToken = NewType("PageToken", str)


@dataclass(frozen=True, slots=True)
class UserFilter:
    """What a listing is restricted to; None matches every user.

    ``email_prefix`` is in canonical form (``canonical_email``), compared with
    each user's canonical email. Creation times form the half-open range
    ``[created_from, created_before)``.
    """

    email_prefix: str | None = None
    role: Role | None = None
    status: UserStatus | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None

    def key(self) -> str:
        """A text that two filters share exactly when they select the same users."""
        return json.dumps(
            [
                self.email_prefix,
                self.role,
                self.status,
                None if self.created_from is None else self.created_from.isoformat(),
                None if self.created_before is None else self.created_before.isoformat(),
            ],
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where the next page starts: after the user created at ``created_at`` with ``user_id``."""

    created_at: datetime
    user_id: UUID


@dataclass(frozen=True, slots=True)
class ListedUser:
    """A user as an admin's listing shows it: with its status."""

    user: User
    status: UserStatus

    @property
    def cursor(self) -> PageCursor:
        return PageCursor(self.user.created_at, self.user.id)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; ``next_page_token`` is empty on the last."""

    users: list[ListedUser]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class PageSizes:
    """How many users a page holds: ``default`` when none is asked, at most ``maximum``."""

    default: int = 50
    maximum: int = 500

    def size_of(self, requested: int) -> int:
        """AIP-158: 0 is the default, more than the maximum is the maximum, negative is invalid."""
        if requested < 0:
            raise InvalidInput("page_size", "must not be negative")
        if requested == 0:
            return self.default
        return min(requested, self.maximum)


def parse_page_token(raw: str) -> PageToken | None:
    """None for the first page (empty); a bounded token otherwise (its signature is not checked)."""
    if not raw:
        return None
    if len(raw) > PAGE_TOKEN_MAX_LENGTH:
        raise InvalidInput("page_token", "is not a page token of this service")
    return PageToken(raw)


def _email_prefix(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if len(value) > EMAIL_MAX_LENGTH:
        raise InvalidInput("email_prefix", f"must be at most {EMAIL_MAX_LENGTH} characters")
    if not value.isprintable():
        raise InvalidInput("email_prefix", "must not contain control or invisible characters")
    return canonical_email(value)


def _choice(kind: type[Choice], raw: str, field: str) -> Choice | None:
    value = raw.strip().lower()
    if not value:
        return None
    try:
        return kind(value)
    except ValueError as err:
        choices = ", ".join(f"'{member.value}'" for member in kind)
        raise InvalidInput(field, f"must be one of {choices}, or empty for any") from err


def parse_user_filter(
    *,
    email_prefix: str,
    role: str,
    status: str,
    created_from: datetime | None,
    created_before: datetime | None,
) -> UserFilter:
    """The filter of a listing request; empty strings match everything. ``InvalidInput``."""
    if created_from is not None and created_before is not None and created_before <= created_from:
        raise InvalidInput("created_before", "must be later than created_from")
    return UserFilter(
        email_prefix=_email_prefix(email_prefix),
        role=_choice(Role, role, "role"),
        status=_choice(UserStatus, status, "status"),
        created_from=created_from,
        created_before=created_before,
    )


class UserDirectory(Protocol):
    """Users in listing order (PostgreSQL), served by indexes whatever the filter."""

    async def list_users(
        self, user_filter: UserFilter, after: PageCursor | None, limit: int
    ) -> list[ListedUser]:
        """At most ``limit`` users matching ``user_filter``, ordered by ``(created_at, id)``,
        each strictly after ``after`` (from the first when None)."""
        ...


class PageTokens(Protocol):
    """Issues and checks page tokens: signed, expiring, bound to the filter they serve."""

    def issue(self, user_filter: UserFilter, cursor: PageCursor) -> str:
        """An opaque token for the page after ``cursor`` under ``user_filter``."""
        ...

    def read(self, token: PageToken, user_filter: UserFilter) -> PageCursor:
        """The cursor in ``token``; ``InvalidInput`` naming ``page_token`` when it was not
        issued by this service (forged, altered), is older than its lifetime, or was made
        for another filter."""
        ...
