"""Users and sessions brought over from another service: what arrives, what is kept, and the
ports an import runs over.

A source row is checked by the rules Register applies (email, names, avatar,
role) and its password hash by the schemes the service can verify; a row
that fails is *refused*, with its reason, never dropped silently. A user
keeps the id, role, avatar and times it had. Importing is idempotent: a user
whose id is already here is left as it is.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.users import (
    AVATAR_SCHEMES,
    Email,
    Role,
    canonical_email,
    new_email,
    parse_profile,
    parse_role,
)

# What ListSessions shows as an imported session's user agent.
IMPORTED_SESSION_AGENT = "(imported from the Go service)"


@dataclass(frozen=True, slots=True)
class SourceUser:
    """One user as a source holds it, unchecked; ``reference`` names it in a report."""

    reference: str
    id: UUID
    email: str
    first_name: str
    last_name: str
    password_hash: str = field(repr=False)
    role: str
    avatar: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ImportedUser:
    """A source user that meets the service's rules, ready to be stored as it came."""

    reference: str
    id: UUID
    email: Email
    first_name: str
    last_name: str
    password_hash: str = field(repr=False)
    role: Role
    avatar: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def canonical_email(self) -> str:
        return canonical_email(self.email)


@dataclass(frozen=True, slots=True)
class Refused:
    """A source row or session not brought over, and why (no secret, no address in it)."""

    reference: str
    reason: str


class HashSchemes(Protocol):
    """Which stored password hashes the service can verify."""

    def check(self, password_hash: str) -> None:
        """Return if the hash can be kept as it is; ``InvalidInput`` naming why not otherwise."""
        ...


def parse_source_user(
    source: SourceUser, schemes: HashSchemes, avatar_schemes: frozenset[str] = AVATAR_SCHEMES
) -> ImportedUser:
    """The user to store, checked as Register checks; ``InvalidInput`` naming the field."""
    first_name, last_name, avatar = parse_profile(
        source.first_name, source.last_name, source.avatar or "", avatar_schemes
    )
    schemes.check(source.password_hash)
    role = parse_role(source.role)
    return ImportedUser(
        reference=source.reference,
        id=source.id,
        email=new_email(source.email),
        first_name=first_name,
        last_name=last_name,
        password_hash=source.password_hash,
        role=role,
        avatar=avatar,
        created_at=source.created_at,
        updated_at=max(source.updated_at, source.created_at),
    )


class ImportOutcome(enum.StrEnum):
    """What storing one imported user did."""

    IMPORTED = "imported"
    PRESENT = "present"  # this id was imported before: left as it is
    EMAIL_TAKEN = "email_taken"  # another user has the same canonical email
    ID_TAKEN = "id_taken"  # another user (another email) has this id
    RACED = "raced"  # a row written meanwhile took the id or email: run again


@dataclass(frozen=True, slots=True)
class Stored:
    """One user's outcome; ``other`` is the user it collided with, when known."""

    outcome: ImportOutcome
    other: UUID | None = None


class UserImports(Protocol):
    """Stores imported users (the users table's adapter)."""

    async def add_imported(self, users: Sequence[ImportedUser], *, dry_run: bool) -> list[Stored]:
        """Insert each user unless its id or canonical email is taken; one outcome per user.

        One batch is one transaction: a batch is stored whole or not at all.
        With ``dry_run`` the outcomes are the same and nothing is kept.
        """
        ...


class UserSource(Protocol):
    """Where users come from: a table, a file."""

    async def count(self) -> int | None:
        """How many rows there are to read, if known beforehand (for the progress bar)."""
        ...

    def batches(self) -> AsyncIterator[list[SourceUser | Refused]]:
        """The rows in a stable order, a batch at a time; an unreadable row as ``Refused``."""
        ...


@dataclass(frozen=True, slots=True)
class SourceSession:
    """A live session of the old service: its id (a secret) and how long it has left."""

    reference: str
    session_id: str = field(repr=False)
    user_id: UUID
    remaining_seconds: float | None  # None: the old service set no expiry


class SessionSource(Protocol):
    """The old service's live sessions."""

    def batches(self) -> AsyncIterator[list[SourceSession | Refused]]: ...


class ImportedSessions(Protocol):
    """Keeps imported sessions as the service's own (the session store's layout)."""

    async def adopt(self, session: SourceSession, sessions_epoch: int) -> bool:
        """Store the session under the user's current ``sessions_epoch``; False if it was
        adopted before (even if it has ended since: an ended session never comes back)."""
        ...
