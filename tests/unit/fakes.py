"""In-memory fakes of the use cases' Protocols (app/domain/ports.py).

Each fake declares the Protocol it stands for, so mypy checks it against the
port and a change of a port breaks its fake loudly.
"""

from __future__ import annotations

import builtins
import dataclasses
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.domain.clients import Client
from app.domain.device_tokens import DeviceToken, DeviceTokens
from app.domain.errors import (
    EmailTaken,
    InvalidInput,
    LastAdmin,
    PermissionDenied,
    ServerBusy,
    Store,
    StoreUnavailable,
    Throttled,
    UserNotFound,
)
from app.domain.event_ports import EventOutbox, OutboxBatches, PublishBatch
from app.domain.events import PERSONAL_DATA_KEYS, Event
from app.domain.importing import (
    ImportedSessions,
    ImportedUser,
    ImportOutcome,
    SourceSession,
    Stored,
    UserImports,
)
from app.domain.listing import (
    ListedUser,
    PageCursor,
    PageToken,
    PageTokens,
    UserDirectory,
    UserFilter,
)
from app.domain.mail import Message
from app.domain.ports import (
    Clock,
    IdSource,
    LoginOutcome,
    LoginThrottle,
    PasswordHasher,
    SessionLookup,
    SessionMetrics,
    SessionStore,
    StoreAvailability,
    UserCache,
    UserRepository,
)
from app.domain.profiles import ProfileChanges, ProfileField
from app.domain.sessions import (
    SessionEndReason,
    SessionRecord,
    SessionTimes,
    ended_by_principal,
    ending,
    is_listed,
    is_stale,
    new_session_handle,
    over_cap,
    replaces_principal,
)
from app.domain.throttling import LimitedAction
from app.domain.users import (
    AccountKey,
    NewUser,
    Principal,
    Role,
    User,
    UserStatus,
    canonical_email,
)
from app.domain.verification import Verification


class FakeUsers(UserRepository):
    """Users as principals with their password hashes; ``broken`` makes reads fail."""

    def __init__(self) -> None:
        self.rows: dict[UUID, tuple[Principal, str]] = {}
        self.events: list[Event] = []
        self.messages: list[Message] = []
        # Verifications written with a registration (read by FakeVerifications).
        self.verifications: list[Verification] = []
        self.reads_by_id = 0
        self.broken = False

    def _check(self) -> None:
        if self.broken:
            raise StoreUnavailable() from ConnectionError("postgres down")

    async def add(
        self,
        new_user: NewUser,
        registered: Event,
        *,
        actor: UUID | None,
        verification: Verification | None = None,
    ) -> User:
        self._require_administrator(actor)
        taken = canonical_email(new_user.email)
        if any(canonical_email(p.user.email) == taken for p, _ in self.rows.values()):
            raise EmailTaken()
        now = datetime.now(UTC)
        user = User(
            id=new_user.id,
            email=new_user.email,
            first_name=new_user.first_name,
            last_name=new_user.last_name,
            role=new_user.role,
            avatar=new_user.avatar,
            created_at=now,
            updated_at=now,
        )
        principal = Principal(user, UserStatus.ACTIVE, version=1, sessions_epoch=0)
        self.rows[user.id] = (principal, new_user.password_hash)
        self.events.append(registered)
        if verification is not None:
            self.verifications.append(verification)
        return user

    async def get_by_id(self, user_id: UUID) -> User | None:
        self.reads_by_id += 1
        principal = await self.get_principal(user_id)
        return None if principal is None else principal.user

    async def get_by_email(self, account: AccountKey) -> User | None:
        found = await self.get_with_password_hash(account)
        return None if found is None else found[0].user

    async def get_with_password_hash(self, account: AccountKey) -> tuple[Principal, str] | None:
        self._check()
        for principal, password_hash in self.rows.values():
            if canonical_email(principal.user.email) == account:
                return principal, password_hash
        return None

    async def update_password_hash(self, user_id: UUID, password_hash: str) -> None:
        self._update(user_id, password_hash=password_hash)

    async def get_principal(self, user_id: UUID) -> Principal | None:
        self._check()
        row = self.rows.get(user_id)
        return None if row is None else row[0]

    async def change_password(
        self, user_id: UUID, password_hash: str, changed: Event, notice: Message | None = None
    ) -> Principal:
        self.events.append(changed)
        if notice is not None:
            self.messages.append(notice)
        return self._update(user_id, password_hash=password_hash, bump_epoch=True)

    async def set_role(
        self, user_id: UUID, role: Role, changed: Event, *, actor: UUID | None
    ) -> Principal:
        self._require_administrator(actor)
        principal = self._row(user_id)[0]
        if principal.user.role is role:
            return principal
        if role is not Role.ADMIN:
            self._refuse_last_admin(user_id)
        self.events.append(changed)
        return self._update(user_id, role=role)

    async def set_status(
        self, user_id: UUID, status: UserStatus, changed: Event, *, actor: UUID | None
    ) -> Principal:
        self._require_administrator(actor)
        principal = self._row(user_id)[0]
        if principal.status is status:
            return principal
        disabling = status is UserStatus.DISABLED
        if disabling:
            self._refuse_last_admin(user_id)
        self.events.append(changed)
        return self._update(user_id, status=status, bump_epoch=disabling)

    async def bump_sessions_epoch(self, user_id: UUID, *, actor: UUID | None) -> Principal:
        self._require_administrator(actor)
        return self._update(user_id, bump_epoch=True)

    async def update_profile(
        self,
        user_id: UUID,
        changes: ProfileChanges,
        changed: Callable[[frozenset[ProfileField]], Event],
        *,
        actor: UUID | None,
    ) -> Principal:
        self._require_administrator(actor)
        principal, password_hash = self._row(user_id)
        fields = changes.changed_from(principal.user)
        if not fields:
            return principal
        self.events.append(changed(fields))
        user = dataclasses.replace(changes.applied_to(principal.user), updated_at=datetime.now(UTC))
        updated = dataclasses.replace(principal, user=user, version=principal.version + 1)
        self.rows[user_id] = (updated, password_hash)
        return updated

    async def delete(self, user_id: UUID, deleted: Event, *, actor: UUID | None) -> Principal:
        self._require_administrator(actor)
        principal = self._row(user_id)[0]
        self._refuse_last_admin(user_id)
        del self.rows[user_id]
        self.events = [
            dataclasses.replace(
                event, data={k: v for k, v in event.data.items() if k not in PERSONAL_DATA_KEYS}
            )
            if event.user_id == user_id
            else event
            for event in self.events
        ]
        self.events.append(deleted)
        return principal

    def _require_administrator(self, actor: UUID | None) -> None:
        """The repository's own decision, from the actor's row as stored now."""
        row = self.rows.get(actor) if actor is not None else None
        if actor is not None and (row is None or not row[0].may_administer):
            raise PermissionDenied("an admin's session is required")

    def _row(self, user_id: UUID) -> tuple[Principal, str]:
        if user_id not in self.rows:
            raise UserNotFound()
        return self.rows[user_id]

    def _refuse_last_admin(self, user_id: UUID) -> None:
        admins = [
            p.user.id for p, _ in self.rows.values() if p.user.role is Role.ADMIN and p.active
        ]
        if admins == [user_id]:
            raise LastAdmin()

    def _update(
        self,
        user_id: UUID,
        *,
        password_hash: str | None = None,
        role: Role | None = None,
        status: UserStatus | None = None,
        bump_epoch: bool = False,
    ) -> Principal:
        principal, old_hash = self._row(user_id)
        user = dataclasses.replace(
            principal.user, role=role or principal.user.role, updated_at=datetime.now(UTC)
        )
        updated = Principal(
            user,
            status or principal.status,
            version=principal.version + 1,
            sessions_epoch=principal.sessions_epoch + int(bump_epoch),
        )
        self.rows[user_id] = (updated, password_hash or old_hash)
        return updated


class FakeCache(UserCache):
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

    async def delete(self, user_id: UUID) -> None:
        if self.broken:
            raise StoreUnavailable() from ConnectionError("cache down")
        self.users.pop(user_id, None)


@dataclasses.dataclass
class FakeSession:
    user_id: UUID
    epoch: int
    handle: str
    times: SessionTimes
    client: Client
    order: int  # among sessions opened at the same moment
    second_factor: bool = False


class FakeSessions(SessionStore):
    """Sessions and principals in dicts, deciding by the domain's session rules
    (``app.domain.sessions``) on ``clock``; ``tests/contract`` holds it to the
    same contract as the Redis store.

    ``stale`` marks every stored principal as older than the refresh bound;
    ``evicting`` drops every principal as soon as it is written.
    """

    def __init__(
        self,
        *,
        cap: int = 100,
        clock: Clock | None = None,
        idle_timeout: timedelta = timedelta(days=1),
        lifetime: timedelta = timedelta(days=7),
        refresh: timedelta = timedelta(seconds=30),
    ) -> None:
        self.sessions: dict[str, FakeSession] = {}
        self.principals: dict[UUID, Principal] = {}
        self.events: builtins.list[Event] = []
        self.cap = cap
        self.clock = clock or FakeClock()
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self.refresh = refresh
        self.stale = False
        self.evicting = False  # principals written are dropped at once (memory pressure)
        self._fresh_until: dict[UUID, datetime] = {}
        self._bumped_by: dict[UUID, SessionEndReason] = {}
        self._opened = 0

    async def create(
        self,
        session_id: str,
        principal: Principal,
        client: Client,
        logged_in: Event,
        capped: Event,
        *,
        second_factor: bool = False,
    ) -> int | None:
        now = self._now()
        user_id = principal.user.id
        await self.put_principal(principal)
        stored = self.principals.get(user_id, principal)
        if ended_by_principal(stored, principal.sessions_epoch) is not None:
            return None
        self.events.append(logged_in)
        self._opened += 1
        self.sessions[session_id] = FakeSession(
            user_id,
            principal.sessions_epoch,
            new_session_handle(),
            SessionTimes.opened(now, self.lifetime),
            client,
            self._opened,
            second_factor,
        )
        mine = self._of(user_id)
        oldest = mine[: over_cap(len(mine), self.cap)]
        for session in oldest:
            self._end(session, capped)
        return len(oldest)

    async def resolve(self, session_id: str, revoked: Event) -> SessionLookup | None:
        now = self._now()
        session = self.sessions.get(session_id)
        if session is None:
            return None
        principal = self.principals.get(session.user_id)
        reason = ending(
            session.times, session.epoch, principal, now, self._bumped_by.get(session.user_id)
        )
        if reason is not None:
            self._end(session_id, revoked, reason)
            return SessionLookup(session.user_id, session.epoch, None, True, ended=reason)
        session.times = session.times.touched(now)
        stale = principal is None or self.stale
        if principal is not None:
            stale = stale or is_stale(self._fresh_until.get(session.user_id, now), now)
        return SessionLookup(session.user_id, session.epoch, principal, stale)

    async def put_principal(self, principal: Principal) -> None:
        await self._put(principal)

    async def _put(self, principal: Principal) -> bool:
        user_id = principal.user.id
        stored = self.principals.get(user_id)
        if not replaces_principal(None if stored is None else stored.version, principal.version):
            return False
        if not self.evicting:
            self.principals[user_id] = principal
            self._fresh_until[user_id] = self._now() + self.refresh
        return True

    async def delete(self, session_id: str, logged_out: Event) -> UUID | None:
        self._now()
        session = self.sessions.pop(session_id, None)
        if session is None:
            return None
        # As the real store does: only it knows the session's user.
        self.events.append(dataclasses.replace(logged_out, user_id=session.user_id))
        return session.user_id

    async def list(self, user_id: UUID, current_session_id: str) -> builtins.list[SessionRecord]:
        now = self._now()
        principal = self.principals.get(user_id)
        epoch = 0 if principal is None else principal.sessions_epoch
        records = []
        for session_id in reversed(self._of(user_id)):
            session = self.sessions[session_id]
            if is_listed(session.times, session.epoch, epoch, now):
                times = session.times
                records.append(
                    SessionRecord(
                        session.handle,
                        times.created_at,
                        times.last_seen,
                        times.expires_at,
                        session.client.address,
                        session.client.user_agent,
                        session_id == current_session_id,
                        session.second_factor,
                    )
                )
        return records

    async def revoke(self, user_id: UUID, handle: str, revoked: Event) -> bool:
        self._now()
        for session_id in self._of(user_id):
            if self.sessions[session_id].handle == handle:
                self._end(session_id, revoked)
                return True
        return False

    async def revoke_all(
        self,
        user_id: UUID,
        revoked: Event,
        *,
        keep_session_id: str | None = None,
        principal: Principal | None = None,
    ) -> int:
        self._now()
        if principal is not None:
            if await self._put(principal):
                self._bumped_by[user_id] = _reason_of(revoked)
            if keep_session_id in self.sessions:
                self.sessions[keep_session_id].epoch = principal.sessions_epoch
        ended = [sid for sid in self._of(user_id) if sid != keep_session_id]
        for session_id in ended:
            self._end(session_id, revoked)
        return len(ended)

    async def forget(self, user_id: UUID, revoked: Event) -> int:
        ended = await self.revoke_all(user_id, revoked)
        self.principals.pop(user_id, None)
        return ended

    def _now(self) -> datetime:
        """The clock's time, once idle sessions are gone (as Redis expires keys)."""
        now = self.clock.now()
        for session_id, session in builtins.list(self.sessions.items()):
            if session.times.idle_deadline(self.idle_timeout) <= now:
                del self.sessions[session_id]
        return now

    def _of(self, user_id: UUID) -> builtins.list[str]:  # ``list`` is a method here
        """The user's session ids, oldest first."""
        mine = [sid for sid, s in self.sessions.items() if s.user_id == user_id]
        return sorted(
            mine, key=lambda sid: (self.sessions[sid].times.created_at, self.sessions[sid].order)
        )

    def _end(self, session_id: str, revoked: Event, reason: SessionEndReason | None = None) -> None:
        """End the session with its own ``session.revoked`` (its user, handle and id)."""
        session = self.sessions.pop(session_id)
        data = {**revoked.data, "handle": session.handle, "reason": reason or _reason_of(revoked)}
        self.events.append(
            dataclasses.replace(
                revoked,
                id=uuid.uuid5(revoked.id, session_id),
                user_id=session.user_id,
                data=data,
            )
        )


def _reason_of(revoked: Event) -> SessionEndReason:
    return SessionEndReason(revoked.data.get("reason", SessionEndReason.REVOKED))


class FakePasswords(PasswordHasher):
    """'Hashes' as ``v<version>:<password>``; a hash of an older version needs re-hashing."""

    def __init__(self, version: int = 1) -> None:
        self.version = version
        self.dummy_verifications = 0
        self.verifications = 0
        self.hashes = 0
        self.busy = False
        self.clients: list[Client] = []  # whom each hash or check was for

    async def hash(self, password: str, *, client: Client) -> str:
        self.clients.append(client)
        self.hashes += 1
        return f"v{self.version}:{password}"

    async def verify(self, password_hash: str, password: str, *, client: Client) -> bool:
        self.clients.append(client)
        self.verifications += 1
        return password_hash.split(":", 1)[1] == password

    async def verify_dummy(self, password: str, *, client: Client) -> None:
        self.clients.append(client)
        self.dummy_verifications += 1

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"v{self.version}:")

    def check_capacity(self, *, client: Client) -> None:
        if self.busy:
            raise ServerBusy()


class FakeOutbox(EventOutbox):
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def add(self, event: Event) -> None:
        self.events.append(event)


class FakeThrottle(LoginThrottle):
    """Records what it was asked; refuses nothing unless told to (``refuse_with``)."""

    def __init__(self) -> None:
        self.admitted: list[tuple[str | None, Client]] = []
        self.devices: list[DeviceToken | None] = []
        self.succeeded_for: list[str] = []
        self.withdrawn: list[tuple[str | None, Client, DeviceToken | None]] = []
        self.cleared: list[tuple[str | None, str | None]] = []
        self.refusing = False
        self.actions: list[tuple[LimitedAction, Client]] = []
        self.account_actions: list[tuple[LimitedAction, str]] = []
        self.action_accounts: list[AccountKey | None] = []
        self.refuse_with: Throttled | StoreUnavailable | None = None
        self.withdraw_fails = False

    async def admit(
        self, account: str | None, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        if self.refuse_with is not None:
            raise self.refuse_with
        self.admitted.append((account, client))
        self.devices.append(device)
        if self.refusing:
            raise Throttled(retry_after_seconds=30.0)

    async def succeeded(
        self, account: str, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        self.succeeded_for.append(account)

    async def withdraw(
        self, account: str | None, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        if self.withdraw_fails:
            raise StoreUnavailable()
        self.withdrawn.append((account, client, device))

    async def clear(self, account: str | None, address_group: str | None) -> int:
        self.cleared.append((account, address_group))
        return 2

    async def admit_action(
        self, action: LimitedAction, client: Client, *, account: AccountKey | None = None
    ) -> None:
        if self.refuse_with is not None:
            raise self.refuse_with
        self.actions.append((action, client))
        if account is not None:
            self.account_actions.append((action, account))
        self.action_accounts.append(account)


class FakeDeviceTokens(DeviceTokens):
    """Tokens that read as ``device:<account>:<n>``; any other token is invalid."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def issue(self, account: str) -> str:
        token = f"device:{account}:{len(self.issued)}"
        self.issued.append(token)
        return token

    def verify(self, token: str, account: str) -> DeviceToken | None:
        if token not in self.issued or not token.startswith(f"device:{account}:"):
            return None
        return DeviceToken(id=token.rpartition(":")[2])


class FakeMetrics(SessionMetrics):
    """Counts what the use cases report."""

    def __init__(self) -> None:
        self.logins: list[LoginOutcome] = []
        self.created = 0
        self.ended: dict[SessionEndReason, int] = {}

    def login(self, outcome: LoginOutcome) -> None:
        self.logins.append(outcome)

    def session_created(self) -> None:
        self.created += 1

    def sessions_ended(self, reason: SessionEndReason, count: int = 1) -> None:
        if count:
            self.ended[reason] = self.ended.get(reason, 0) + count


class NoPublisher:
    """An event publisher that drops what it is given (for relays whose output is not tested)."""

    async def publish(self, events: Sequence[Event]) -> None:
        return None


class FakeOutboxBatches(OutboxBatches):
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


class FakeStores(StoreAvailability):
    """Every store answers unless named in ``down``."""

    def __init__(self) -> None:
        self.down: set[Store] = set()

    def known_down(self, store: Store) -> bool:
        return store in self.down


class FakeClock(Clock):
    """A clock that moves only when told (``advance``)."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


class FakeIds(IdSource):
    """Predictable identifiers: UUIDs and tokens numbered from 1."""

    def __init__(self) -> None:
        self.issued = 0

    def uuid(self) -> UUID:
        self.issued += 1
        return UUID(int=self.issued)

    def token(self, size_bytes: int) -> str:
        self.issued += 1
        return f"token-{self.issued}-of-{size_bytes}-bytes"


class FakeDirectory(UserDirectory):
    """The users of a ``FakeUsers``, filtered and ordered as the real directory does."""

    def __init__(self, users: FakeUsers) -> None:
        self._users = users
        self.limits: list[int] = []

    async def list_users(
        self, user_filter: UserFilter, after: PageCursor | None, limit: int
    ) -> builtins.list[ListedUser]:
        self._users._check()
        self.limits.append(limit)
        listed = sorted(
            (
                ListedUser(principal.user, principal.status)
                for principal, _ in self._users.rows.values()
            ),
            key=lambda each: (each.user.created_at, each.user.id),
        )
        chosen = [
            each
            for each in listed
            if _matches(user_filter, each)
            and (
                after is None
                or (each.user.created_at, each.user.id) > (after.created_at, after.user_id)
            )
        ]
        return chosen[:limit]


def _matches(user_filter: UserFilter, listed: ListedUser) -> bool:
    user = listed.user
    return (
        (
            user_filter.email_prefix is None
            or canonical_email(user.email).startswith(user_filter.email_prefix)
        )
        and user_filter.role in (None, user.role)
        and user_filter.status in (None, listed.status)
        and (user_filter.created_from is None or user.created_at >= user_filter.created_from)
        and (user_filter.created_before is None or user.created_at < user_filter.created_before)
    )


class FakePageTokens(PageTokens):
    """Tokens that read as ``page:<n>``, each remembered with its filter and cursor."""

    def __init__(self) -> None:
        self.issued: dict[str, tuple[UserFilter, PageCursor]] = {}

    def issue(self, user_filter: UserFilter, cursor: PageCursor) -> str:
        token = f"page:{len(self.issued)}"
        self.issued[token] = (user_filter, cursor)
        return token

    def read(self, token: PageToken, user_filter: UserFilter) -> PageCursor:
        if token not in self.issued:
            raise InvalidInput("page_token", "is not a page token of this service")
        made_for, cursor = self.issued[token]
        if made_for != user_filter:
            raise InvalidInput("page_token", "was made for other filters")
        return cursor


class FakeUserImports(UserImports):
    """Imported users stored into ``users``' rows, as the users table would take them."""

    def __init__(self, users: FakeUsers) -> None:
        self.users = users

    async def add_imported(self, users: Sequence[ImportedUser], *, dry_run: bool) -> list[Stored]:
        kept = dict(self.users.rows)
        outcomes = [self._stored(user, kept) for user in users]
        if not dry_run:
            self.users.rows = kept
        return outcomes

    @staticmethod
    def _stored(user: ImportedUser, rows: dict[UUID, tuple[Principal, str]]) -> Stored:
        if user.id in rows:
            same = canonical_email(rows[user.id][0].user.email) == user.canonical_email
            return Stored(ImportOutcome.PRESENT if same else ImportOutcome.ID_TAKEN)
        for principal, _ in rows.values():
            if canonical_email(principal.user.email) == user.canonical_email:
                return Stored(ImportOutcome.EMAIL_TAKEN, principal.user.id)
        imported = User(
            id=user.id,
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            role=user.role,
            avatar=user.avatar,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )
        principal = Principal(imported, UserStatus.ACTIVE, version=1, sessions_epoch=0)
        rows[user.id] = (principal, user.password_hash)
        return Stored(ImportOutcome.IMPORTED)


class FakeImportedSessions(ImportedSessions):
    """Adopted sessions by id, with the epoch each was adopted under."""

    def __init__(self) -> None:
        self.adopted: dict[str, int] = {}

    async def adopt(self, session: SourceSession, sessions_epoch: int) -> bool:
        if session.session_id in self.adopted:
            return False
        self.adopted[session.session_id] = sessions_epoch
        return True
