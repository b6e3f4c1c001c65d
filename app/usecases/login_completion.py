"""The second step of login: a ticket for a correct password, then a code for a session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import NoReturn

from app.domain.clients import Client
from app.domain.device_tokens import DeviceTokens
from app.domain.errors import Store, StoreUnavailable
from app.domain.ports import Clock, IdSource, StoreAvailability, UserRepository
from app.domain.second_factor import (
    TICKET_WRONG_CODES,
    InvalidCode,
    InvalidTicket,
    PendingLogin,
    RecoveryCode,
    TotpCode,
    VerificationOutcome,
)
from app.domain.second_factor_ports import FactorRepository, LoginTickets
from app.domain.sessions import Session
from app.domain.users import AccountKey, Principal
from app.observability.tracing import traced
from app.usecases.factor_checks import FactorChecks
from app.usecases.users import LoggedIn

TICKET_BYTES = 32
# Opens a session as Login does (cap, events, metrics); True: made with a second factor.
SessionOpener = Callable[[Principal, Client, bool], Awaitable[Session]]


class SecondStep:
    """What Login asks of the factor: is one needed, and the ticket that stands for the
    password until the code comes (single use, short-lived, kept by digest only)."""

    def __init__(
        self,
        factors: FactorRepository,
        tickets: LoginTickets,
        clock: Clock,
        ids: IdSource,
        *,
        ticket_lifetime_seconds: float,
    ) -> None:
        self._factors = factors
        self._tickets = tickets
        self._clock = clock
        self._ids = ids
        self._lifetime = timedelta(seconds=ticket_lifetime_seconds)

    async def required(self, principal: Principal) -> bool:
        return await self._factors.is_active(principal.user.id)

    async def ticket(self, principal: Principal, account: AccountKey) -> str:
        ticket = self._ids.token(TICKET_BYTES)
        pending = PendingLogin(
            user_id=principal.user.id,
            account=account,
            sessions_epoch=principal.sessions_epoch,
            expires_at=self._clock.now() + self._lifetime,
        )
        await self._tickets.issue(ticket, pending)
        return ticket


class LoginCompletion:
    """CompleteLogin: a ticket and a code (TOTP or recovery) make the session Login would."""

    def __init__(
        self,
        tickets: LoginTickets,
        checks: FactorChecks,
        *,
        users: UserRepository,
        devices: DeviceTokens,
        stores: StoreAvailability,
        open_session: SessionOpener,
    ) -> None:
        self._tickets = tickets
        self._checks = checks
        self._users = users
        self._devices = devices
        self._stores = stores
        self._open_session = open_session

    @traced
    async def complete(
        self, ticket: str, code: TotpCode | RecoveryCode, client: Client
    ) -> LoggedIn:
        """The session for a live ticket and a right code.

        ``InvalidTicket`` for a ticket unknown, used, past its lifetime, ended by
        wrong codes, or whose user was disabled or had their sessions revoked
        (a password change) since the password was checked. A wrong code is
        ``InvalidCode`` and counts on the ticket: the fifth ends it. Guesses are
        throttled per account and per address as logins are (``Throttled``).
        """
        if self._stores.known_down(Store.REDIS):
            raise StoreUnavailable(Store.REDIS, "known down")
        pending = await self._tickets.get(ticket)
        if pending is None or pending.expired(self._checks.now()):
            self._dead(code)
        account = AccountKey(pending.account)
        try:
            await self._checks.guess(pending.user_id, account, code, client)
        except InvalidCode:
            await self._tickets.wrong_code(ticket, TICKET_WRONG_CODES)
            raise
        if not await self._tickets.consume(ticket):
            self._dead(code)
        principal = await self._users.get_principal(pending.user_id)
        if (
            principal is None
            or not principal.active
            or principal.sessions_epoch != pending.sessions_epoch
        ):
            self._dead(code)
        session = await self._open_session(principal, client, True)
        return LoggedIn(session, self._devices.issue(account))

    def _dead(self, code: TotpCode | RecoveryCode) -> NoReturn:
        self._checks.count(code, VerificationOutcome.TICKET_DEAD)
        raise InvalidTicket()
