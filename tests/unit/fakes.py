"""In-memory fakes of the use cases' Protocols (app/usecases/ports.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from app.domain.clients import Client
from app.domain.errors import EmailTaken, ServerBusy, StoreUnavailable, Throttled
from app.domain.events import Event
from app.domain.throttling import LimitedAction
from app.domain.users import NewUser, User, canonical_email
from app.usecases.ports import PublishBatch


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[UUID, tuple[User, str]] = {}
        self.events: list[Event] = []
        self.reads_by_id = 0

    async def add(self, new_user: NewUser, registered: Event) -> User:
        taken = canonical_email(new_user.email)
        if any(canonical_email(user.email) == taken for user, _ in self.rows.values()):
            raise EmailTaken()
        now = datetime.now(UTC)
        user = User(
            id=uuid.uuid4(),
            email=new_user.email,
            first_name=new_user.first_name,
            last_name=new_user.last_name,
            role=new_user.role,
            avatar=new_user.avatar,
            created_at=now,
            updated_at=now,
        )
        self.rows[user.id] = (user, new_user.password_hash)
        self.events.append(registered.about(user.id))
        return user

    async def get_by_id(self, user_id: UUID) -> User | None:
        self.reads_by_id += 1
        row = self.rows.get(user_id)
        return None if row is None else row[0]

    async def get_by_email(self, email: str) -> User | None:
        found = await self.get_with_password_hash(email)
        return None if found is None else found[0]

    async def get_with_password_hash(self, email: str) -> tuple[User, str] | None:
        for user, password_hash in self.rows.values():
            if canonical_email(user.email) == canonical_email(email):
                return user, password_hash
        return None

    async def update_password_hash(self, user_id: UUID, password_hash: str) -> None:
        user, _ = self.rows[user_id]
        self.rows[user_id] = (user, password_hash)


class FakeCache:
    def __init__(self, *, broken: bool = False) -> None:
        self.users: dict[UUID, User] = {}
        self.broken = broken

    async def get(self, user_id: UUID) -> User | None:
        if self.broken:
            raise StoreUnavailable() from ConnectionError("cache down")
        return self.users.get(user_id)

    async def put(self, user: User) -> None:
        if self.broken:
            raise StoreUnavailable() from ConnectionError("cache down")
        self.users[user.id] = user


class FakeSessions:
    def __init__(self) -> None:
        self.sessions: dict[str, User] = {}
        self.events: list[Event] = []

    async def create(self, session_id: str, user: User, logged_in: Event) -> None:
        self.sessions[session_id] = user
        self.events.append(logged_in)

    async def touch(self, session_id: str) -> User | None:
        return self.sessions.get(session_id)

    async def delete(self, session_id: str, logged_out: Event) -> User | None:
        user = self.sessions.pop(session_id, None)
        if user is not None:
            self.events.append(logged_out.about(user.id))
        return user


class FakePasswords:
    """'Hashes' as ``v<version>:<password>``; a hash of an older version needs re-hashing."""

    def __init__(self, version: int = 1) -> None:
        self.version = version
        self.dummy_verifications = 0
        self.verifications = 0
        self.hashes = 0
        self.busy = False

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return f"v{self.version}:{password}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return password_hash.split(":", 1)[1] == password

    async def verify_dummy(self, password: str) -> None:
        self.dummy_verifications += 1

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"v{self.version}:")

    def check_capacity(self) -> None:
        if self.busy:
            raise ServerBusy()


class FakeOutbox:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def add(self, event: Event) -> None:
        self.events.append(event)


class FakeThrottle:
    """Records what it was asked; refuses nothing unless told to (``refuse_with``)."""

    def __init__(self) -> None:
        self.admitted: list[tuple[str | None, Client]] = []
        self.succeeded_for: list[str] = []
        self.actions: list[tuple[LimitedAction, Client]] = []
        self.refuse_with: Throttled | StoreUnavailable | None = None

    async def admit(self, account: str | None, client: Client) -> None:
        if self.refuse_with is not None:
            raise self.refuse_with
        self.admitted.append((account, client))

    async def succeeded(self, account: str, client: Client) -> None:
        self.succeeded_for.append(account)

    async def admit_action(self, action: LimitedAction, client: Client) -> None:
        if self.refuse_with is not None:
            raise self.refuse_with
        self.actions.append((action, client))


class FakeOutboxBatches:
    """An outbox for the relay: ``pending`` events, and ``prunable`` published ones."""

    def __init__(self, prunable: int = 0) -> None:
        self.pending: list[Event] = []
        self.prunable = prunable
        self.prune_calls: list[tuple[float, int]] = []

    async def publish_next(self, limit: int, publish: PublishBatch) -> int:
        batch, self.pending = self.pending[:limit], self.pending[limit:]
        if batch:
            await publish(batch)
        return len(batch)

    async def prune_published(self, older_than_seconds: float, limit: int) -> int:
        self.prune_calls.append((older_than_seconds, limit))
        deleted = min(limit, self.prunable)
        self.prunable -= deleted
        return deleted
