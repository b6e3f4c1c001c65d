"""What the use cases need from the outside world, as Protocols (those of events
are in :mod:`app.domain.event_ports`).

They live beside the domain so that both sides import them: use cases state
what they need here, adapters in ``app/adapters`` satisfy it structurally, and
unit tests' in-memory fakes declare the same Protocols. Every method may raise
:class:`~app.domain.errors.StoreUnavailable` when its store does not answer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.clients import Client
from app.domain.device_tokens import DeviceToken
from app.domain.errors import Store
from app.domain.events import Event
from app.domain.mail import Message
from app.domain.profiles import ProfileChanges, ProfileField
from app.domain.sessions import SessionEndReason, SessionHandle, SessionRecord
from app.domain.throttling import LimitedAction
from app.domain.users import AccountKey, NewUser, Principal, Role, User, UserStatus
from app.domain.verification import Verification


class UserRepository(Protocol):
    """The durable home of users (PostgreSQL).

    ``actor`` of the admin changes (``set_role``, ``set_status``,
    ``bump_sessions_epoch``, and ``add`` of an admin or service caller) is the
    acting user: their row is read, locked, in the change's own transaction,
    and unless it is then ``may_administer`` the change is refused
    (``PermissionDenied``): a demotion of the actor either commits first and
    is seen, or waits for the change. None is the operator's command line,
    trusted, or a user registering themselves.
    """

    async def add(
        self,
        new_user: NewUser,
        registered: Event,
        *,
        actor: UUID | None,
        verification: Verification | None = None,
    ) -> User:
        """Store a new user (with the id it carries), ``registered`` and the
        ``verification`` of their address with its message, atomically.

        Either all are durable or none is. Raises ``EmailTaken`` if the
        email is already used: emails are the same when their
        ``canonical_email`` forms are, here and in the lookups below, and
        ``PermissionDenied`` when ``actor`` may not administer.
        """
        ...

    async def get_by_id(self, user_id: UUID) -> User | None: ...

    async def get_by_email(self, account: AccountKey) -> User | None:
        """The user whose email has this canonical form."""
        ...

    async def get_with_password_hash(self, account: AccountKey) -> tuple[Principal, str] | None:
        """The user (as ``get_by_email``) as authorization sees it, and their password hash,
        for login only."""
        ...

    async def update_password_hash(self, user_id: UUID, password_hash: str) -> None:
        """Store a re-hash of the same password (new parameters); sessions are kept."""
        ...

    async def get_principal(self, user_id: UUID) -> Principal | None:
        """The user as it is now, with status, version and sessions epoch."""
        ...

    async def change_password(
        self, user_id: UUID, password_hash: str, changed: Event, notice: Message | None = None
    ) -> Principal:
        """Store a new password, bump the sessions epoch, add ``changed`` and queue
        ``notice`` (the user's security notice), atomically.

        Raises ``UserNotFound``.
        """
        ...

    async def set_role(
        self, user_id: UUID, role: Role, changed: Event, *, actor: UUID | None
    ) -> Principal:
        """Give the user ``role`` and add ``changed``, in one transaction.

        A user who already has the role is left alone (no event). Raises
        ``LastAdmin`` when the user is the last active admin and ``role`` is
        not admin (checked with the active admins locked), ``UserNotFound``.
        """
        ...

    async def set_status(
        self, user_id: UUID, status: UserStatus, changed: Event, *, actor: UUID | None
    ) -> Principal:
        """Enable or disable the user and add ``changed``, in one transaction.

        Disabling bumps the sessions epoch. No change, no event. Raises
        ``LastAdmin`` for the last active admin, ``UserNotFound``.
        """
        ...

    async def bump_sessions_epoch(self, user_id: UUID, *, actor: UUID | None) -> Principal:
        """End every session made so far (they carry the older epoch). ``UserNotFound``."""
        ...

    async def update_profile(
        self,
        user_id: UUID,
        changes: ProfileChanges,
        changed: Callable[[frozenset[ProfileField]], Event],
        *,
        actor: UUID | None,
    ) -> Principal:
        """Apply ``changes`` and add ``changed(fields)``, the fields whose value they
        change, in one transaction; when none does, nothing is written (no event).

        Raises ``UserNotFound``, ``PermissionDenied`` (``actor``).
        """
        ...

    async def delete(self, user_id: UUID, deleted: Event, *, actor: UUID | None) -> Principal:
        """Delete the user, erase their personal data from the stored events and add
        ``deleted``, in one transaction; the user as it was.

        Erased: the keys of ``PERSONAL_DATA_KEYS`` from the data of the events
        about the user, and their network from the events they acted in (outbox
        and audit log, whose ``source_address`` column too); user ids and event
        types stay. Raises ``LastAdmin`` for the last active admin,
        ``UserNotFound``, ``PermissionDenied`` (``actor``).
        """
        ...


class UserCache(Protocol):
    """A read-through copy of users by id (Redis); may be stale by up to its TTL."""

    async def get(self, user_id: UUID) -> User | None: ...

    async def put(self, user: User) -> None: ...

    async def delete(self, user_id: UUID) -> None:
        """Forget the user (it changed): the next read goes to the repository."""
        ...


@dataclass(frozen=True, slots=True)
class SessionLookup:
    """What resolving a session found.

    ``ended`` is set when the lookup itself ended the session (its absolute
    lifetime passed, its user is disabled or its sessions epoch is newer): the
    caller is then unauthenticated. Otherwise ``principal`` is the user's
    cached principal (None when there is none) and ``stale`` says whether it
    is older than the refresh bound.
    """

    user_id: UUID
    sessions_epoch: int
    principal: Principal | None
    stale: bool
    ended: SessionEndReason | None = None


class SessionStore(Protocol):
    """Live sessions keyed by a digest of their id, a per-user index, and principals.

    A principal is the authorization copy of a user (in the same store as the
    sessions, so one atomic step can read both). Every method that ends
    sessions publishes one ``session.revoked`` event per session it ended,
    completed from the ``revoked`` template (its user, its handle, its own
    event id), in the same atomic step. Every event published gets the
    current request's ``traceparent`` from the store.
    """

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
        """Store the session, index it, write ``principal`` and publish ``logged_in``.

        ``second_factor`` is kept with the session (was it made with one?) and
        listed with it.

        Atomically, and only if the stored principal is not disabled and not of
        a newer sessions epoch (then None: nothing is stored). Sessions beyond
        the per-user cap end, oldest first (``capped``); returns how many.
        """
        ...

    async def resolve(self, session_id: str, revoked: Event) -> SessionLookup | None:
        """Look the session up, slide its idle expiry and record when it was seen.

        None if unknown or idle-expired. Ends it (with a ``session.revoked`` of
        the reason it states) when it has outlived its absolute lifetime or its
        principal is disabled or newer in epoch: the rules of
        :mod:`app.domain.sessions`, which ``tests/contract`` holds every store to.
        """
        ...

    async def put_principal(self, principal: Principal) -> None:
        """Store ``principal`` unless the stored one is of a newer version."""
        ...

    async def delete(self, session_id: str, logged_out: Event) -> UUID | None:
        """Remove the session and publish ``logged_out`` about its user, atomically.

        Returns the session's user id, or None (and publishes nothing) if there
        was no such session.

        ``logged_out`` comes without its user, and the store states it: the
        one reason is that only the store knows whose a session id is, and
        reading that first would cost a second round trip on every logout.
        """
        ...

    async def list(self, user_id: UUID, current_session_id: str) -> list[SessionRecord]:
        """The user's live sessions, newest first, the current one marked."""
        ...

    async def revoke(self, user_id: UUID, handle: SessionHandle, revoked: Event) -> bool:
        """End the user's session with this handle; False if it has none."""
        ...

    async def revoke_all(
        self,
        user_id: UUID,
        revoked: Event,
        *,
        keep_session_id: str | None = None,
        principal: Principal | None = None,
    ) -> int:
        """End every session of the user but ``keep_session_id``; the number ended.

        With ``principal``, write it (as :meth:`put_principal`) in the same
        atomic step and move the kept session to its sessions epoch.
        """
        ...

    async def forget(self, user_id: UUID, revoked: Event) -> int:
        """The user is gone: end its sessions and drop its principal."""
        ...


class LoginThrottle(Protocol):
    """Limits password guessing per account and per client address, successful
    logins per account and per address, and costly calls (Register,
    ChangePassword) per client address (Redis).

    ``admit`` counts the attempt and decides in one atomic step, *before* any
    password is hashed, so parallel guesses cannot slip past the limit. Every
    refusal raises ``Throttled`` with the seconds to wait. Accounts are named
    in storage by a keyed hash of ``account``, never by the email.
    """

    async def admit(
        self, account: AccountKey | None, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        """Count a login attempt on ``account`` from ``client``.

        ``account`` is None when the email was not even valid: the attempt then
        counts against the address only. An attempt counts as a failure until
        :meth:`succeeded` or :meth:`withdraw` says otherwise. Raises
        ``Throttled`` when the account or the address must wait, or past the
        rate of successful logins; a refused attempt is not counted.

        ``device``, a token verified for ``account``, lifts both waits while
        the token has fewer failures than the account's free ones (its
        failures are counted on it). An address the account logged in from
        lifts one of the two waits, never both.
        """
        ...

    async def succeeded(
        self, account: AccountKey, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        """The attempt proved the password: forget the account's and the token's failures.

        The address keeps its other failures (one good password must not wipe
        an attacker's record); only this attempt stops counting against it.
        The address becomes known to the account, and the success counts
        against the rates of successful logins.
        """
        ...

    async def withdraw(
        self, account: AccountKey | None, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        """Take back an admitted attempt that a store outage kept from being judged."""
        ...

    async def clear(self, account: AccountKey | None, address_group: str | None) -> int:
        """Forget the failures and successful-login rates of an account and/or an
        address group; the number of counters removed (known addresses stay)."""
        ...

    async def admit_action(
        self, action: LimitedAction, client: Client, *, account: AccountKey | None = None
    ) -> None:
        """Count one ``action`` (a Register, a ChangePassword) from ``client``'s address,
        and with ``account`` on that account too (a reset request, known or not).

        Raises ``Throttled`` past the action's configured rate per address, or per
        account; a refusal by the address leaves the account's count untouched.
        """
        ...


class LoginOutcome(enum.StrEnum):
    SUCCESS = "success"
    INVALID_CREDENTIALS = "invalid_credentials"
    DISABLED = "disabled"
    THROTTLED = "throttled"


class SessionMetrics(Protocol):
    """Counts of logins and session lifecycles (Prometheus, or nothing)."""

    def login(self, outcome: LoginOutcome) -> None: ...

    def session_created(self) -> None: ...

    def sessions_ended(self, reason: SessionEndReason, count: int = 1) -> None: ...


class StoreAvailability(Protocol):
    """What is known, without any I/O, of whether a store answers right now.

    Fed by the health probes and by the failures calls observe. A use case asks
    it before spending CPU (a password hash) on a call whose store is known to
    be down, and fails fast instead.
    """

    def known_down(self, store: Store) -> bool:
        """True while ``store`` recently failed and has not answered since."""
        ...


class PasswordHasher(Protocol):
    """Slow, salted password hashing that runs off the event loop.

    ``client`` is the caller the work is done for: the hashing threads are
    shared out fairly between clients (by ``Client.address_group``; callers
    with no address share one share), so one client's flood cannot hold them
    all. Hashes of new passwords (:meth:`hash`) and checks of offered ones
    (:meth:`verify`) are two classes: while checks wait, new hashes get at most
    a fixed share of the threads. A call refused by these bounds raises
    ``ServerBusy``.
    """

    async def hash(self, password: str, *, client: Client) -> str: ...

    async def verify(self, password_hash: str, password: str, *, client: Client) -> bool: ...

    async def verify_dummy(self, password: str, *, client: Client) -> None:
        """Spend as long as a real verification, for unknown emails."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...

    def check_capacity(self, *, client: Client) -> None:
        """Raise ``ServerBusy`` at once if a hash asked for now by ``client`` would be refused.

        A cheap check before any other work of a call that will hash, so a
        refusal under a flood costs next to nothing.
        """
        ...


class Clock(Protocol):
    """The time of day, for rules that compare against a moment (lifetimes, expiries).

    The system's clock in the service; a fixed or stepped one in tests, so
    lifetimes are tested without waiting.
    """

    def now(self) -> datetime:
        """The current moment, timezone-aware (UTC)."""
        ...


class IdSource(Protocol):
    """Fresh identifiers: random in the service, predictable in tests."""

    def uuid(self) -> UUID:
        """A fresh random UUID (version 4)."""
        ...

    def token(self, size_bytes: int) -> str:
        """A fresh secret of ``size_bytes`` random bytes, URL-safe base64 (one-time codes)."""
        ...
