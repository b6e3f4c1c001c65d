"""Email verification and change of address (docs/email-verification.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID

import structlog

from app.domain import events
from app.domain.clients import Client
from app.domain.errors import EmailTaken, InvalidInput, Throttled, UserNotFound
from app.domain.mail import Message, MessageKind
from app.domain.passwords import OfferedPassword
from app.domain.ports import (
    Clock,
    IdSource,
)
from app.domain.second_factor import TotpCode
from app.domain.throttling import LimitedAction
from app.domain.users import Email, Principal, User, canonical_email
from app.domain.verification import (
    TOKEN_BYTES,
    EmailAlreadyVerified,
    Verification,
    VerificationRepository,
    token_digest,
)
from app.observability.tracing import traced
from app.usecases.account_checks import AccountPorts, AccountPortSet, forget_cached

logger = structlog.get_logger(__name__)


# Sends a principal a new verification link (at Login refused for an unverified address).
ResendVerification = Callable[[Principal, Client], Awaitable[None]]


class VerificationTokens:
    """Makes a verification: a fresh token in the message that carries it, its lifetime
    counted from the clock's now."""

    def __init__(self, clock: Clock, ids: IdSource, *, lifetime_seconds: float) -> None:
        self._clock = clock
        self._ids = ids
        self._lifetime = timedelta(seconds=lifetime_seconds)

    def make(self, user_id: UUID, email: str, first_name: str, *, is_change: bool) -> Verification:
        message = Message(
            id=self._ids.uuid(),
            kind=MessageKind.EMAIL_VERIFICATION,
            recipient=email,
            values={"first_name": first_name},
            token=self._ids.token(TOKEN_BYTES),
        )
        return Verification(
            user_id=user_id,
            email=email,
            account=canonical_email(email),
            is_change=is_change,
            expires_at=self._clock.now() + self._lifetime,
            message=message,
        )


class VerificationUseCase(AccountPorts):
    """VerifyEmail, ResendVerification and ChangeEmail."""

    def __init__(
        self,
        ports: AccountPortSet,
        *,
        verifications: VerificationRepository,
        tokens: VerificationTokens,
        clock: Clock,
        ids: IdSource,
    ) -> None:
        super().__init__(ports)
        self._verifications = verifications
        self._tokens = tokens
        self._clock = clock
        self._ids = ids

    @traced
    async def verify(self, token: str) -> User:
        """Use ``token``: verify the address, or apply the change of address it was sent
        for. ``InvalidVerificationToken``; ``EmailTaken`` when a change's address was
        taken since it was asked for (nothing changes)."""
        result = await self._verifications.use(
            token_digest(token),
            self._clock.now(),
            verified=events.user_email_verified,
            changed=events.user_email_changed,
            notice=self._notice,
        )
        await self._sessions.put_principal(result.principal)
        await forget_cached(self._cache, result.principal.user.id)
        return result.principal.user

    @traced
    async def resend(self, caller: Principal, client: Client) -> None:
        """Send the caller a new verification (the older one dies), throttled per account
        and address (``Throttled``); ``EmailAlreadyVerified``."""
        account = canonical_email(caller.user.email)
        await self._throttle.admit_action(
            LimitedAction.RESEND_VERIFICATION, client, account=account
        )
        user = await self._users.get_by_id(caller.user.id)
        if user is None:
            raise UserNotFound()
        if user.email_verified:
            raise EmailAlreadyVerified()
        await self._verifications.issue(
            self._tokens.make(user.id, user.email, user.first_name, is_change=False)
        )

    async def resend_at_login(self, principal: Principal, client: Client) -> None:
        """:meth:`resend` for a Login refused for an unverified address: a throttled or
        already verified resend sends nothing and the refusal stands."""
        try:
            await self.resend(principal, client)
        except (Throttled, EmailAlreadyVerified):
            logger.info("verification not resent at login")

    @traced
    async def change_email(
        self,
        caller: Principal,
        current: OfferedPassword,
        new_email: Email,
        client: Client,
        code: TotpCode | None = None,
    ) -> None:
        """Check the password (as ChangePassword does, throttled) and any second factor's
        ``code``, then send a verification to ``new_email``; the change applies when it
        is verified. ``EmailTaken`` when the address is in use now."""
        await self._confirm_caller(caller, current, code, client)
        account = canonical_email(new_email)
        if account == canonical_email(caller.user.email):
            raise InvalidInput("new_email", "is already your address")
        if await self._users.get_by_email(account) is not None:
            raise EmailTaken()
        user = caller.user
        await self._verifications.issue(
            self._tokens.make(user.id, new_email, user.first_name, is_change=True)
        )

    def _notice(self, principal: Principal, previous_email: str) -> Message:
        """The message that tells the old address it no longer is the account's."""
        return Message(
            id=self._ids.uuid(),
            kind=MessageKind.EMAIL_CHANGED,
            recipient=previous_email,
            values={"first_name": principal.user.first_name},
        )
