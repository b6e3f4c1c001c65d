"""RecoveryUseCase: a forgotten password, replaced through a link sent by mail."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.domain import events
from app.domain.clients import Client
from app.domain.mail import Message, MessageKind, password_changed_notice
from app.domain.passwords import Password, PasswordPolicy, strength_context
from app.domain.ports import (
    Clock,
    IdSource,
    LoginThrottle,
    PasswordHasher,
    SessionMetrics,
    SessionStore,
    UserCache,
)
from app.domain.recovery import (
    TOKEN_BYTES,
    PasswordResets,
    ResetGrant,
    invalid_token,
    token_digest,
)
from app.domain.second_factor import TotpCode
from app.domain.sessions import SessionEndReason
from app.domain.throttling import LimitedAction
from app.domain.users import Email, UserStatus, canonical_email
from app.observability.tracing import traced
from app.usecases.account_checks import forget_cached
from app.usecases.factor_guard import FactorGuard


class RecoveryUseCase:
    """RequestPasswordReset and ResetPassword.

    A request answers alike for a known, an unknown and a disabled address,
    and does the same work for each: the same throttle checks, one lookup, a
    token made and digested, and the same one-statement write, which stores
    something only for an active user (the others pass an id no user has).
    What differs still (the rows written) is hidden under a constant floor: a
    request that got past the throttle answers no sooner than
    ``request_floor_seconds`` after it began.
    """

    def __init__(
        self,
        resets: PasswordResets,
        *,
        sessions: SessionStore,
        cache: UserCache,
        passwords: PasswordHasher,
        throttle: LoginThrottle,
        metrics: SessionMetrics,
        guard: FactorGuard,
        policy: PasswordPolicy,
        clock: Clock,
        ids: IdSource,
        token_lifetime_seconds: float,
        request_floor_seconds: float = 0.0,
    ) -> None:
        self._resets = resets
        self._sessions = sessions
        self._cache = cache
        self._passwords = passwords
        self._throttle = throttle
        self._metrics = metrics
        self._guard = guard
        self._policy = policy
        self._clock = clock
        self._ids = ids
        self._lifetime = timedelta(seconds=token_lifetime_seconds)
        self._floor = request_floor_seconds

    @traced
    async def request_reset(self, email: Email, client: Client) -> None:
        """Send a reset link if ``email`` is an active account's; nothing says whether it
        was. ``Throttled`` past the rate per address or per account (known or not)."""
        account = canonical_email(email)
        await self._throttle.admit_action(
            LimitedAction.PASSWORD_RESET_REQUEST, client, account=account
        )
        loop = asyncio.get_running_loop()
        answer_at = loop.time() + self._floor
        await self._issue(email, client)
        await asyncio.sleep(max(answer_at - loop.time(), 0.0))

    async def _issue(self, email: Email, client: Client) -> None:
        """The request's work, the same on every path (see the class's docstring)."""
        account = canonical_email(email)
        holder = await self._resets.holder(account)
        known = holder is not None and holder.status is UserStatus.ACTIVE
        user = holder.user if holder is not None and known else None
        user_id = user.id if user is not None else self._ids.uuid()
        token = self._ids.token(TOKEN_BYTES)
        now = self._clock.now()
        grant = ResetGrant(user_id, token_digest(token), now, now + self._lifetime)
        message = Message(
            id=self._ids.uuid(),
            kind=MessageKind.PASSWORD_RESET,
            recipient=user.email if user is not None else email,
            values={"first_name": user.first_name if user is not None else ""},
            token=token,
        )
        await self._resets.issue(
            grant, message, events.user_password_reset_requested(user_id, client)
        )

    @traced
    async def reset_password(
        self, token: str, new: Password, client: Client, code: TotpCode | None = None
    ) -> int:
        """Replace the password of the token's user with ``new`` and end all their sessions;
        how many ended.

        ``InvalidInput`` (field ``token``) for a token that is not valid now, alike
        for every reason; ``WeakPassword`` (``new_password``) for a password easy to
        guess from the user's address and names; for a user with a second factor,
        ``InvalidCode`` without a current ``code``. ``Throttled`` past the rate of
        guesses per address. The token stays valid after a refusal for the password
        or the code; it is spent only by the change.
        """
        self._passwords.check_capacity(client=client)
        await self._throttle.admit_action(LimitedAction.PASSWORD_RESET_GUESS, client)
        digest = token_digest(token)
        holder = await self._resets.holder_of(digest, self._clock.now())
        if holder is None:
            raise invalid_token()
        user = holder.user
        context = strength_context(user.email, user.first_name, user.last_name)
        await self._policy.require_strong(new, field="new_password", context=context)
        await self._guard.step_up(holder, code, client)
        password_hash = await self._passwords.hash(new, client=client)
        changed = await self._resets.redeem(
            digest,
            self._clock.now(),
            user.id,
            password_hash,
            events.user_password_reset(user.id, client),
            password_changed_notice(user),
        )
        if changed is None:
            raise invalid_token()
        ended = await self._sessions.revoke_all(
            user.id,
            events.session_revoked(
                SessionEndReason.PASSWORD_CHANGE, events.Actor.of(user.id, client)
            ),
            principal=changed,
        )
        self._metrics.sessions_ended(SessionEndReason.PASSWORD_CHANGE, ended)
        await forget_cached(self._cache, user.id)
        return ended
