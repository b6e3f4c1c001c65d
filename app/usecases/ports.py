"""What the use cases need from the outside world, as Protocols.

Adapters in ``app/adapters`` satisfy these structurally; unit tests pass
in-memory fakes of the same Protocols. Every method may raise
:class:`~app.domain.errors.StoreUnavailable` when its store does not answer.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from app.domain.users import NewUser, User


class UserRepository(Protocol):
    """The durable home of users (PostgreSQL)."""

    async def add(self, new_user: NewUser) -> User:
        """Store a new user; raise ``EmailTaken`` if the email is already used."""
        ...

    async def get_by_id(self, user_id: UUID) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None: ...

    async def get_with_password_hash(self, email: str) -> tuple[User, str] | None:
        """The user and their password hash, for login only."""
        ...

    async def update_password_hash(self, user_id: UUID, password_hash: str) -> None: ...


class UserCache(Protocol):
    """A read-through copy of users by id (Redis); may be stale by up to its TTL."""

    async def get(self, user_id: UUID) -> User | None: ...

    async def put(self, user: User) -> None: ...


class SessionStore(Protocol):
    """Live sessions keyed by a digest of their id, each holding its user."""

    async def create(self, session_id: str, user: User) -> None: ...

    async def touch(self, session_id: str) -> User | None:
        """The session's user, sliding its expiry; None if unknown or expired."""
        ...

    async def delete(self, session_id: str) -> User | None:
        """Remove the session; its user, or None if there was no such session."""
        ...


class PasswordHasher(Protocol):
    """Slow, salted password hashing that runs off the event loop."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def verify_dummy(self, password: str) -> None:
        """Spend as long as a real verification, for unknown emails."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...
