"""UserUseCase: registration, lookups and login."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import structlog

from app.domain import events
from app.domain.clients import Client
from app.domain.device_tokens import DeviceToken, DeviceTokens
from app.domain.errors import (
    InvalidCredentials,
    PermissionDenied,
    Store,
    StoreUnavailable,
    Throttled,
    UserNotFound,
)
from app.domain.event_ports import EventOutbox
from app.domain.events import LoginFailure
from app.domain.ports import (
    LoginOutcome,
    StoreAvailability,
)
from app.domain.second_factor import SecondFactorRequired
from app.domain.second_factor_ports import SecondFactorGate
from app.domain.sessions import Session, SessionEndReason, new_session_id
from app.domain.throttling import LimitedAction, ThrottleScope
from app.domain.users import (
    AccountKey,
    Email,
    LoginAttempt,
    Principal,
    Registration,
    Role,
    User,
    canonical_email,
)
from app.domain.verification import EmailNotVerified
from app.observability.tracing import traced
from app.usecases.account_checks import AccountPorts, AccountPortSet
from app.usecases.verification import ResendVerification, VerificationTokens

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """What a successful login hands out: the session, and a new device token (secrets both)."""

    session: Session
    device_token: str


@dataclass(frozen=True, slots=True)
class SecondFactorPending:
    """A correct password of an account with a second factor: no session, a ticket for
    CompleteLogin (a secret, single use)."""

    user: User
    ticket: str


class UserUseCase(AccountPorts):
    """The rules for users: who may register what, and how login works."""

    def __init__(
        self,
        ports: AccountPortSet,
        *,
        outbox: EventOutbox,
        stores: StoreAvailability,
        devices: DeviceTokens,
        second_factor: SecondFactorGate | None = None,
        verification_tokens: VerificationTokens | None = None,
        require_verified_email: bool = False,
        resend_verification: ResendVerification | None = None,
    ) -> None:
        super().__init__(ports)
        self._outbox = outbox
        self._stores = stores
        self._devices = devices
        self._second_factor = second_factor
        self._verification_tokens = verification_tokens
        self._require_verified_email = require_verified_email
        self._resend_verification = resend_verification

    @traced
    async def register(
        self, registration: Registration, caller: User | None, client: Client
    ) -> User:
        """Create a user. Only an admin may create an admin or a service caller.

        Raises ``PermissionDenied`` for that (checked on the caller's session
        before hashing, and again on its row in the insert's transaction: an
        admin demoted meanwhile creates nothing), ``EmailTaken`` when the address is
        in use, whatever its case, ``ServerBusy`` when the hashing queue is full
        and ``Throttled`` (before hashing) past the client address's rate. The
        rate is kept in Redis; Register needs only PostgreSQL, so while Redis
        does not answer the rate goes unchecked (logged) rather than refusing.
        The user and their ``user.registered`` event are stored together.
        """
        privileged = registration.role is not Role.USER
        if privileged and (caller is None or caller.role is not Role.ADMIN):
            role = registration.role.value
            article = "an" if role[0] in "aeiou" else "a"
            raise PermissionDenied(f"only an admin may register {article} {role}")
        if privileged and caller is not None:
            await self._guard.require_enrolled(caller)
        self._passwords.check_capacity(client=client)
        self._require(Store.POSTGRESQL)
        await self._admit_registration(client)
        new_user = registration.hashed(
            await self._passwords.hash(registration.password, client=client)
        )
        actor = caller.id if privileged and caller is not None else None
        tokens = self._verification_tokens
        verification = None
        if tokens is not None:  # the address's first verification, sent with the user
            verification = tokens.make(
                new_user.id, new_user.email, new_user.first_name, is_change=False
            )
        return await self._users.add(
            new_user, events.user_registered(new_user), actor=actor, verification=verification
        )

    async def _admit_registration(self, client: Client) -> None:
        if self._stores.known_down(Store.REDIS):
            return  # unchecked, as below, without waiting for a store known down
        try:
            await self._throttle.admit_action(LimitedAction.REGISTER, client)
        except StoreUnavailable as err:
            logger.warning(
                "registration rate not checked, its store is unavailable",
                error=repr(err.__cause__),
            )

    @traced
    async def find_by_email(self, email: Email, caller: Principal) -> User:
        """The user with this email (any spelling of it); ``UserNotFound`` if none.

        A caller who may read only themselves gets ``PermissionDenied`` for any
        other address, known or not (no oracle of who is registered).
        """
        account = canonical_email(email)
        mine = account == canonical_email(caller.user.email)
        if not mine and not caller.may_read_anyone:
            raise PermissionDenied("you may look up only yourself")
        user = await self._users.get_by_email(account)
        if user is None:
            raise UserNotFound()
        return user

    @traced
    async def find_by_id(self, user_id: UUID, caller: Principal) -> User:
        """The user with this id, read through the cache.

        Anyone may read themselves, admins and service callers anyone
        (``PermissionDenied`` otherwise). A cache that does not answer is
        logged and bypassed: the call still succeeds from PostgreSQL.
        """
        if not caller.may_read(user_id):
            raise PermissionDenied("you may look up only yourself")
        cached = await self._read_cache(user_id)
        if cached is not None:
            return cached
        user = await self._users.get_by_id(user_id)
        if user is None:
            raise UserNotFound()
        await self._write_cache(user)
        return user

    async def login(
        self, attempt: LoginAttempt, client: Client, *, device_token: str = ""
    ) -> LoggedIn:
        """:meth:`login_or_ticket` for a client that knows no second step: an account
        with a second factor raises ``SecondFactorRequired`` (never a session)."""
        logged_in = await self.login_or_ticket(attempt, client, device_token=device_token)
        assert isinstance(logged_in, LoggedIn)  # no ticket without second_factor_supported
        return logged_in

    @traced
    async def login_or_ticket(
        self,
        attempt: LoginAttempt,
        client: Client,
        *,
        device_token: str = "",
        second_factor_supported: bool = False,
    ) -> LoggedIn | SecondFactorPending:
        """Check the credentials and open a session; hand out a new device token.

        A server with its hashing queue full refuses at once (``ServerBusy``).
        Every attempt then passes the throttle (``Throttled``: no hash runs);
        an invalid email counts against the client's address only, and a
        ``device_token`` verified for the account spares the attempt the
        waits that failures impose (see ``LoginThrottle.admit``). A password
        longer than any valid one (``too_long``) is refused without hashing.
        Unknown email, wrong password and a disabled account all raise
        ``InvalidCredentials`` after about the same time: an unknown email is
        verified against a dummy hash, a disabled account's password is
        checked as usual. The session and its ``user.logged_in`` event are
        stored together; a failure is recorded as ``user.login_failed``
        (through the outbox, as it changes no other state; with an email only
        when it names an account) before ``InvalidCredentials`` is raised.
        While Redis is known to be down no session can be made: the call fails
        fast with ``StoreUnavailable``, before any hashing. An attempt that a
        PostgreSQL outage kept from being judged is taken back from the
        throttle's counters: an outage is not a lockout.

        An account with an active second factor gets no session for its
        password: a client that ``second_factor_supported`` gets a ticket
        (``SecondFactorPending``), any other ``SecondFactorRequired``. Either way
        the attempt is taken back from the throttle, neither failure nor
        success: the code guesses that follow count as login attempts, and only
        the right code clears the account's failures (docs/second-factor.md).
        """
        self._passwords.check_capacity(client=client)
        self._require(Store.REDIS)
        account, password = attempt.account, attempt.password.value
        device = None
        if account is not None and device_token:
            device = self._devices.verify(device_token, account)
        await self._admit(account, client, device)
        if attempt.password.too_long:
            await self._login_failed(LoginFailure.PASSWORD_TOO_LONG, email=None, user_id=None)
            raise InvalidCredentials()
        if account is None:
            await self._passwords.verify_dummy(password, client=client)
            await self._login_failed(LoginFailure.INVALID_EMAIL, email=None, user_id=None)
            raise InvalidCredentials() from attempt.email_error
        found = await self._lookup(account, client, device)
        principal = await self._checked(found, password, client)
        if self._require_verified_email and not principal.user.email_verified:
            # Only a right password learns it; no session, no ticket. Without a
            # session the user cannot ask for a link, so a new one is sent now.
            await self._throttle.succeeded(account, client, device=device)
            if self._resend_verification is not None:
                await self._resend_verification(principal, client)
            raise EmailNotVerified()
        if self._second_factor is not None and await self._second_factor.required(principal):
            await self._throttle.withdraw(account, client, device=device)
            if not second_factor_supported:
                raise SecondFactorRequired()
            ticket = await self._second_factor.ticket(principal, account)
            return SecondFactorPending(principal.user, ticket)
        await self._throttle.succeeded(account, client, device=device)
        session = await self.open_session(principal, client)
        return LoggedIn(session, self._devices.issue(account))

    async def _lookup(
        self, account: AccountKey, client: Client, device: DeviceToken | None
    ) -> tuple[Principal, str] | None:
        """The account and its hash; an outage here takes the attempt back, then raises."""
        try:
            return await self._users.get_with_password_hash(account)
        except StoreUnavailable:
            try:
                await self._throttle.withdraw(account, client, device=device)
            except StoreUnavailable as err:
                logger.warning(
                    "login attempt not taken back, the throttle's store is unavailable",
                    error=repr(err.__cause__),
                )
            raise

    async def _checked(
        self, found: tuple[Principal, str] | None, password: str, client: Client
    ) -> Principal:
        """The principal whose password this is, if active; ``InvalidCredentials`` otherwise."""
        if found is None:
            await self._passwords.verify_dummy(password, client=client)
            await self._login_failed(LoginFailure.UNKNOWN_EMAIL, email=None, user_id=None)
            raise InvalidCredentials()
        principal, password_hash = found
        user_id, email = principal.user.id, principal.user.email
        if not await self._passwords.verify(password_hash, password, client=client):
            await self._login_failed(LoginFailure.WRONG_PASSWORD, email=email, user_id=user_id)
            raise InvalidCredentials()
        if not principal.active:
            await self._login_failed(LoginFailure.DISABLED, email=email, user_id=user_id)
            raise InvalidCredentials()
        if self._passwords.needs_rehash(password_hash):
            new_hash = await self._passwords.hash(password, client=client)
            await self._users.update_password_hash(user_id, new_hash)
        return principal

    async def open_session(
        self, principal: Principal, client: Client, second_factor: bool = False
    ) -> Session:
        """Store a new session (``second_factor``: made with one); a disable or
        revocation that won the race refuses it."""
        user = principal.user
        session = Session(id=new_session_id(user.id), user=user)
        capped = await self._sessions.create(
            session.id,
            principal,
            client,
            events.user_logged_in(user),
            events.session_revoked(SessionEndReason.CAP),
            second_factor=second_factor,
        )
        if capped is None:
            await self._login_failed(LoginFailure.DISABLED, email=user.email, user_id=user.id)
            raise InvalidCredentials()
        self._metrics.login(LoginOutcome.SUCCESS)
        self._metrics.session_created()
        self._metrics.sessions_ended(SessionEndReason.CAP, capped)
        return session

    def _require(self, store: Store) -> None:
        """Fail fast, without spending a hash on it, a call whose store is known down."""
        if self._stores.known_down(store):
            raise StoreUnavailable(store, "known down")

    async def _admit(
        self, account: AccountKey | None, client: Client, device: DeviceToken | None
    ) -> None:
        """Pass the login throttle; the first refusal of a block is reported as an event."""
        try:
            await self._throttle.admit(account, client, device=device)
        except Throttled as throttled:
            self._metrics.login(LoginOutcome.THROTTLED)
            if throttled.first_refusal:
                await self._report_block(throttled, account, client)
            raise

    async def _report_block(
        self, throttled: Throttled, account: AccountKey | None, client: Client
    ) -> None:
        # The client's answer is the throttle's whatever happens here: a store
        # that fails now costs the event (logged), not the RetryInfo. The email
        # is named only when it is an account's: never a stranger's address.
        of_account = throttled.scope == ThrottleScope.ACCOUNT
        try:
            user = await self._users.get_by_email(account) if of_account and account else None
            await self._outbox.add(
                events.user_login_throttled(
                    scope=throttled.scope,
                    email=None if user is None else user.email,
                    client=client,
                    user_id=None if user is None else user.id,
                    retry_after_seconds=throttled.retry_after_seconds,
                )
            )
        except StoreUnavailable as err:
            logger.warning("login throttled event not recorded", error=repr(err.__cause__))

    async def _login_failed(
        self, reason: LoginFailure, *, email: str | None, user_id: UUID | None
    ) -> None:
        outcome = LoginOutcome.DISABLED if reason is LoginFailure.DISABLED else None
        self._metrics.login(outcome or LoginOutcome.INVALID_CREDENTIALS)
        await self._outbox.add(events.user_login_failed(reason, email=email, user_id=user_id))

    async def _read_cache(self, user_id: UUID) -> User | None:
        try:
            return await self._cache.get(user_id)
        except StoreUnavailable as err:
            logger.warning(
                "user cache read failed, reading from PostgreSQL", error=repr(err.__cause__)
            )
            return None

    async def _write_cache(self, user: User) -> None:
        try:
            await self._cache.put(user)
        except StoreUnavailable as err:
            logger.warning("user cache write failed", error=repr(err.__cause__))
