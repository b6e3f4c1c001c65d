"""AccountUseCase: a user's password, and the admin's actions on users."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from app.domain import events
from app.domain.clients import UNKNOWN_CLIENT, Client
from app.domain.errors import UserNotFound
from app.domain.mail import password_changed_notice, second_factor_reset_notice
from app.domain.passwords import OfferedPassword, Password
from app.domain.second_factor import FactorNotEnrolled, TotpCode
from app.domain.sessions import SessionEndReason
from app.domain.users import (
    Email,
    Principal,
    Registration,
    Role,
    User,
    UserStatus,
    canonical_email,
)
from app.observability.tracing import traced
from app.usecases.account_checks import (
    AccountPorts,
    forget_cached,
)


class AccountUseCase(AccountPorts):
    """Changes to accounts. Each is committed with its event in PostgreSQL first;
    then the principal is rewritten (and sessions ended) in one atomic store step,
    and the user cache entry is dropped, so every instance sees the change at once.
    """

    @traced
    async def change_password(
        self,
        caller: Principal,
        session_id: str,
        current: OfferedPassword,
        new: Password,
        client: Client,
        code: TotpCode | None = None,
    ) -> int:
        """Check ``current`` (``confirm_password``: throttled as a login) and, for a
        caller with a second factor, ``code`` (``FactorGuard.step_up``), store ``new``
        (with the security notice to the caller's address), and end every other
        session of the caller; how many ended."""
        await self._confirm_caller(caller, current, code, client)
        user_id = caller.user.id
        actor = events.Actor.of(user_id, client)
        principal = await self._users.change_password(
            user_id,
            await self._passwords.hash(new, client=client),
            events.user_password_changed(user_id, actor),
            password_changed_notice(caller.user),
        )
        return await self._apply(
            principal, SessionEndReason.PASSWORD_CHANGE, actor, keep_session_id=session_id
        )

    @traced
    async def set_role(self, caller: Principal, user_id: UUID, role: Role, client: Client) -> User:
        await self._guard.admit(caller)
        actor = events.Actor.of(caller.user.id, client)
        principal = await self._users.set_role(
            user_id, role, events.user_role_changed(user_id, role, actor), actor=caller.user.id
        )
        await self._apply(principal)
        return principal.user

    @traced
    async def disable(self, caller: Principal, user_id: UUID, client: Client) -> User:
        """Disable the user: no login, and every session ends (``session.revoked`` disabled)."""
        await self._guard.admit(caller)
        actor = events.Actor.of(caller.user.id, client)
        principal = await self._users.set_status(
            user_id, UserStatus.DISABLED, events.user_disabled(user_id, actor), actor=actor.user_id
        )
        await self._apply(principal, SessionEndReason.DISABLED, actor)
        return principal.user

    @traced
    async def enable(self, caller: Principal, user_id: UUID, client: Client) -> User:
        await self._guard.admit(caller)
        actor = events.Actor.of(caller.user.id, client)
        principal = await self._users.set_status(
            user_id, UserStatus.ACTIVE, events.user_enabled(user_id, actor), actor=actor.user_id
        )
        await self._apply(principal)
        return principal.user

    @traced
    async def revoke_user_sessions(self, caller: Principal, user_id: UUID, client: Client) -> int:
        """End every session of the user, including any a racing login is creating."""
        await self._guard.admit(caller)
        principal = await self._users.bump_sessions_epoch(user_id, actor=caller.user.id)
        actor = events.Actor.of(caller.user.id, client)
        return await self._apply(principal, SessionEndReason.REVOKED, actor)

    @traced
    async def reset_second_factor(self, caller: Principal, user_id: UUID, client: Client) -> int:
        """An admin removes the user's factor and recovery codes (``user.mfa_reset``),
        tells the user by mail, and ends every session of theirs, as DisableUser does;
        how many ended.

        ``UserNotFound``, ``FactorNotEnrolled`` when the user has no active one (nothing
        ends; a pending one is the user's to replace).
        The sessions end first, with the admin's role decided in that transaction;
        a factor the user removed meanwhile is then gone either way.
        """
        await self._guard.admit(caller)
        target = await self._users.get_principal(user_id)
        if target is None:
            raise UserNotFound()
        if not await self._factors.is_active(user_id):
            raise FactorNotEnrolled()
        principal = await self._users.bump_sessions_epoch(user_id, actor=caller.user.id)
        actor = events.Actor.of(caller.user.id, client)
        notice = second_factor_reset_notice(target.user)
        await self._factors.remove(user_id, events.user_mfa_reset(user_id, actor), notice)
        return await self._apply(principal, SessionEndReason.REVOKED, actor)

    @traced
    async def promote_to_admin(self, email: Email) -> User | None:
        """Make the user with this email an admin; None if there is none.

        For the operator's command line: no caller, the operator is trusted.
        """
        user = await self._users.get_by_email(canonical_email(email))
        if user is None:
            return None
        principal = await self._users.set_role(
            user.id, Role.ADMIN, events.user_role_changed(user.id, Role.ADMIN, None), actor=None
        )
        await self._apply(principal)
        return principal.user

    @traced
    async def create_admin(self, registration: Registration) -> User:
        """Register an admin without an admin caller (the operator's command line).

        Raises ``EmailTaken`` when the address is in use.
        """
        admin = replace(registration, role=Role.ADMIN)
        # The operator's command line: no address, the one share of such callers.
        new_user = admin.hashed(await self._passwords.hash(admin.password, client=UNKNOWN_CLIENT))
        return await self._users.add(new_user, events.user_registered(new_user), actor=None)

    async def _apply(
        self,
        principal: Principal,
        ended_by: SessionEndReason | None = None,
        actor: events.Actor | None = None,
        *,
        keep_session_id: str | None = None,
    ) -> int:
        """Publish a committed change: rewrite the principal, end sessions, drop the cache."""
        ended = 0
        if ended_by is None:
            await self._sessions.put_principal(principal)
        else:
            ended = await self._sessions.revoke_all(
                principal.user.id,
                events.session_revoked(ended_by, actor),
                keep_session_id=keep_session_id,
                principal=principal,
            )
            self._metrics.sessions_ended(ended_by, ended)
        await forget_cached(self._cache, principal.user.id)
        return ended
