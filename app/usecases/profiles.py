"""ProfileUseCase: changes to a user's names and avatar, and leaving (erasure)."""

from __future__ import annotations

from uuid import UUID

from app.domain import events
from app.domain.clients import Client
from app.domain.errors import InvalidInput
from app.domain.passwords import OfferedPassword
from app.domain.profiles import ProfileChanges, ProfileField, deleted_principal
from app.domain.second_factor import TotpCode
from app.domain.sessions import SessionEndReason
from app.domain.users import Principal, User
from app.observability.tracing import traced
from app.usecases.account_checks import (
    AccountPorts,
    forget_cached,
)


class ProfileUseCase(AccountPorts):
    """Profile updates and deletions. Each is committed with its event in PostgreSQL
    first; then the principal beside the sessions is rewritten (or, for a deletion,
    replaced by a disabled stand-in with nothing personal, ending every session in the
    same atomic step) and the cached user dropped, so every instance sees it at once.
    """

    @traced
    async def update_profile(
        self,
        caller: Principal,
        changes: ProfileChanges,
        client: Client,
        *,
        named: UUID | None = None,
    ) -> User:
        """Change the caller's own names and avatar; the user as it now is.

        ``named``, the user the request names, if it names one, must be the caller.
        """
        if named is not None and named != caller.user.id:
            raise InvalidInput("user.uuid", "must be empty or your own (UpdateUser for others)")
        return await self._update(caller.user.id, changes, caller, client, admin=False)

    @traced
    async def update_user(
        self, caller: Principal, user_id: UUID, changes: ProfileChanges, client: Client
    ) -> User:
        """An admin changes a user's names and avatar (``PermissionDenied`` otherwise:
        checked on the session, then on the admin's row in the change's transaction)."""
        await self._guard.admit(caller)
        return await self._update(user_id, changes, caller, client, admin=True)

    async def _update(
        self,
        user_id: UUID,
        changes: ProfileChanges,
        caller: Principal,
        client: Client,
        *,
        admin: bool,
    ) -> User:
        actor = events.Actor.of(caller.user.id, client)

        def changed(fields: frozenset[ProfileField]) -> events.Event:
            return events.user_profile_updated(user_id, fields, actor)

        principal = await self._users.update_profile(
            user_id, changes, changed, actor=caller.user.id if admin else None
        )
        await self._sessions.put_principal(principal)
        await forget_cached(self._cache, user_id)
        return principal.user

    @traced
    async def delete_account(
        self,
        caller: Principal,
        current: OfferedPassword,
        client: Client,
        code: TotpCode | None = None,
    ) -> int:
        """Check ``current`` (throttled as ChangePassword is) and, for a caller with a
        second factor, ``code`` (``FactorGuard.step_up``), then delete the caller; how
        many sessions ended. The last active admin may not (``LastAdmin``)."""
        await self._confirm_caller(caller, current, code, client)
        user_id = caller.user.id
        # The user's own network is personal data of the person erased: by id only.
        deleted = events.user_deleted(user_id, events.Actor(user_id, ""))
        return await self._gone(await self._users.delete(user_id, deleted, actor=None))

    @traced
    async def delete_user(self, caller: Principal, user_id: UUID, client: Client) -> int:
        """An admin deletes a user; how many sessions ended. ``LastAdmin`` for the last
        active admin, ``PermissionDenied`` (as ``update_user``), ``UserNotFound``."""
        await self._guard.admit(caller)
        deleted = events.user_deleted(user_id, events.Actor.of(caller.user.id, client))
        return await self._gone(await self._users.delete(user_id, deleted, actor=caller.user.id))

    async def _gone(self, was: Principal) -> int:
        """End every session of a deleted user and leave a stand-in principal (see
        ``deleted_principal``) in their principal's place, then drop the cached user."""
        ended = await self._sessions.revoke_all(
            was.user.id,
            events.session_revoked(SessionEndReason.DELETED),
            principal=deleted_principal(was),
        )
        self._metrics.sessions_ended(SessionEndReason.DELETED, ended)
        await forget_cached(self._cache, was.user.id)
        return ended
