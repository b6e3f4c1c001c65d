"""What the use cases need from the outside world, as Protocols.

Adapters in ``app/adapters`` satisfy these structurally; unit tests pass
in-memory fakes of the same Protocols. Every method may raise
:class:`~app.domain.errors.StoreUnavailable` when its store does not answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol
from uuid import UUID

from app.domain.clients import Client
from app.domain.events import Event
from app.domain.throttling import LimitedAction
from app.domain.users import NewUser, User


class UserRepository(Protocol):
    """The durable home of users (PostgreSQL)."""

    async def add(self, new_user: NewUser, registered: Event) -> User:
        """Store a new user and ``registered`` (stated to be about them) atomically.

        Either both are durable or neither is. Raises ``EmailTaken`` if the
        email is already used: emails are the same when their
        ``canonical_email`` forms are, here and in the lookups below.
        """
        ...

    async def get_by_id(self, user_id: UUID) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None:
        """The user whose email has the canonical form of ``email``."""
        ...

    async def get_with_password_hash(self, email: str) -> tuple[User, str] | None:
        """The user (as ``get_by_email``) and their password hash, for login only."""
        ...

    async def update_password_hash(self, user_id: UUID, password_hash: str) -> None: ...


class UserCache(Protocol):
    """A read-through copy of users by id (Redis); may be stale by up to its TTL."""

    async def get(self, user_id: UUID) -> User | None: ...

    async def put(self, user: User) -> None: ...


class SessionStore(Protocol):
    """Live sessions keyed by a digest of their id, each holding its user."""

    async def create(self, session_id: str, user: User, logged_in: Event) -> None:
        """Store the session and publish ``logged_in`` atomically: both or neither."""
        ...

    async def touch(self, session_id: str) -> User | None:
        """The session's user, sliding its expiry; None if unknown or expired."""
        ...

    async def delete(self, session_id: str, logged_out: Event) -> User | None:
        """Remove the session and publish ``logged_out`` about its user, atomically.

        Returns the session's user, or None (and publishes nothing) if there
        was no such session.
        """
        ...


class LoginThrottle(Protocol):
    """Limits password guessing per account and per client address, and costly
    calls (Register, ChangePassword) per client address (Redis).

    ``admit`` counts the attempt and decides in one atomic step, *before* any
    password is hashed, so parallel guesses cannot slip past the limit. Every
    refusal raises ``Throttled`` with the seconds to wait.
    """

    async def admit(self, account: str | None, client: Client) -> None:
        """Count a login attempt on ``account`` (a ``canonical_email``) from ``client``.

        ``account`` is None when the email was not even valid: the attempt then
        counts against the address only. An attempt counts as a failure until
        :meth:`succeeded` says otherwise. Raises ``Throttled`` when the account
        or the address must wait; a refused attempt is not counted.
        """
        ...

    async def succeeded(self, account: str, client: Client) -> None:
        """The attempt proved the password: forget the account's failures.

        The address keeps its other failures (one good password must not wipe
        an attacker's record); only this attempt stops counting against it.
        """
        ...

    async def admit_action(self, action: LimitedAction, client: Client) -> None:
        """Count one ``action`` (a Register, a ChangePassword) from ``client``'s address.

        Raises ``Throttled`` past the action's configured rate per address.
        """
        ...


class PasswordHasher(Protocol):
    """Slow, salted password hashing that runs off the event loop."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def verify_dummy(self, password: str) -> None:
        """Spend as long as a real verification, for unknown emails."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...

    def check_capacity(self) -> None:
        """Raise ``ServerBusy`` at once if a hash asked for now would be refused.

        A cheap check before any other work of a call that will hash, so a
        refusal under a flood costs next to nothing.
        """
        ...


class EventOutbox(Protocol):
    """Events waiting, durably, to be published (events that change no other state)."""

    async def add(self, event: Event) -> None: ...


PublishBatch = Callable[[Sequence[Event]], Awaitable[None]]


class OutboxBatches(Protocol):
    """The relay's side of the outbox: take a batch, publish it, mark it published."""

    async def publish_next(self, limit: int, publish: PublishBatch) -> int:
        """Claim up to ``limit`` unpublished events, oldest first, and ``publish`` them.

        The events are marked published only if ``publish`` returns; if it
        raises, they stay unpublished for the next attempt. Claims are
        exclusive across processes, and a user's events are never handed out
        before that user's earlier ones are published (or earlier in the same
        batch): a user's backlog goes out in order, a full batch at a time.
        Returns the count.
        """
        ...

    async def prune_published(self, older_than_seconds: float, limit: int) -> int:
        """Delete up to ``limit`` events published more than ``older_than_seconds`` ago.

        Returns how many were deleted; unpublished events are never deleted.
        """
        ...


class EventPublisher(Protocol):
    """A broker's append side (Redis Streams today; Kafka or NATS could fit)."""

    async def publish(self, events: Sequence[Event]) -> None:
        """Append ``events`` in order; return only once the broker has all of them."""
        ...


class AuditLog(Protocol):
    """The audit trail of user events; recording an event twice keeps one row."""

    async def record(self, events: Sequence[Event]) -> None: ...
