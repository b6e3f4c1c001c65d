"""SessionUseCase: who is calling (from the source of truth), and the caller's sessions."""

from __future__ import annotations

from uuid import UUID

import structlog

from app.domain.clients import Client
from app.domain.errors import SessionNotFound, StoreUnavailable, Unauthenticated
from app.domain.events import Actor, session_revoked, user_logged_out
from app.domain.ports import SessionLookup, SessionMetrics, SessionStore, UserRepository
from app.domain.sessions import (
    SessionEndReason,
    SessionHandle,
    SessionRecord,
    ended_by_principal,
)
from app.domain.users import Principal, User
from app.observability.tracing import traced

logger = structlog.get_logger(__name__)


class SessionUseCase:
    """Resolves session ids to principals and lets a user control their sessions.

    A valid session with a fresh principal costs one store call (GetMe). A
    missing or stale principal (older than ``sessions.user_refresh_seconds``)
    is reloaded from the repository and written back before deciding; while
    the repository does not answer, a stale principal is served (logged, and
    trusted for one more refresh interval, so one call per interval waits).
    Every failure to authenticate is the same ``Unauthenticated``.
    """

    def __init__(
        self, sessions: SessionStore, users: UserRepository, metrics: SessionMetrics
    ) -> None:
        self._sessions = sessions
        self._users = users
        self._metrics = metrics

    @traced
    async def authenticate(self, session_id: str | None) -> User:
        """The session's user as it is now, sliding its expiry; ``Unauthenticated`` otherwise."""
        return (await self.caller(session_id)).user

    @traced
    async def caller(self, session_id: str | None) -> Principal:
        """The session's principal; ``Unauthenticated`` for no, an unknown or an ended session."""
        if not session_id:
            raise Unauthenticated()
        lookup = await self._resolve(session_id)
        if lookup.principal is not None and not lookup.stale:
            return lookup.principal
        return await self._refreshed(session_id, lookup)

    @traced
    async def optional_caller(self, session_id: str | None) -> User | None:
        """The caller if a session was presented; ``Unauthenticated`` if it is not valid."""
        if not session_id:
            return None
        return await self.authenticate(session_id)

    async def _resolve(self, session_id: str) -> SessionLookup:
        revoked = session_revoked(SessionEndReason.REVOKED)
        lookup = await self._sessions.resolve(session_id, revoked)
        if lookup is None:
            raise Unauthenticated()
        if lookup.ended is not None:
            self._metrics.sessions_ended(lookup.ended)
            raise Unauthenticated()
        return lookup

    async def _refreshed(self, session_id: str, lookup: SessionLookup) -> Principal:
        """Reload the principal from the repository, store it, and decide again."""
        try:
            principal = await self._users.get_principal(lookup.user_id)
        except StoreUnavailable as err:
            if lookup.principal is None:
                raise
            logger.warning(
                "user store unavailable, serving a stale principal",
                user_id=str(lookup.user_id),
                error=repr(err.__cause__),
            )
            # Trust it for another refresh interval, so that the user's next
            # calls do not each wait for the repository's timeout.
            await self._sessions.put_principal(lookup.principal)
            return lookup.principal
        if principal is None:
            await self._end_all(lookup.user_id, SessionEndReason.DELETED, forget=True)
            raise Unauthenticated()
        await self._sessions.put_principal(principal)
        # Decide again in the store, atomically with the session (it may end it).
        again = await self._resolve(session_id)
        if again.principal is not None:
            return again.principal
        # The principal vanished in between (evicted): decide from the fresh copy.
        if ended_by_principal(principal, lookup.sessions_epoch) is not None:
            raise Unauthenticated()
        return principal

    @traced
    async def logout(self, session_id: str | None, client: Client) -> None:
        """End the session and publish ``user.logged_out`` with it, atomically.

        A missing or already ended session is ``Unauthenticated`` (and no event).
        """
        if not session_id:
            raise Unauthenticated()
        if await self._sessions.delete(session_id, user_logged_out(client)) is None:
            raise Unauthenticated()
        self._metrics.sessions_ended(SessionEndReason.LOGOUT)

    @traced
    async def list_sessions(self, session_id: str | None) -> list[SessionRecord]:
        """The caller's live sessions, newest first, the current one marked."""
        caller = await self.caller(session_id)
        assert session_id is not None
        return await self._sessions.list(caller.user.id, session_id)

    @traced
    async def revoke_session(
        self, session_id: str | None, handle: SessionHandle, client: Client
    ) -> None:
        """End one of the caller's sessions by handle; ``SessionNotFound`` if none has it."""
        caller = await self.caller(session_id)
        revoked = session_revoked(SessionEndReason.REVOKED, Actor.of(caller.user.id, client))
        if not await self._sessions.revoke(caller.user.id, handle, revoked):
            raise SessionNotFound()
        self._metrics.sessions_ended(SessionEndReason.REVOKED)

    @traced
    async def logout_others(self, session_id: str | None, client: Client) -> int:
        """End every session of the caller but this one; how many ended."""
        caller = await self.caller(session_id)
        actor = Actor.of(caller.user.id, client)
        return await self._end_all(
            caller.user.id, SessionEndReason.LOGOUT, actor=actor, keep=session_id
        )

    @traced
    async def logout_all(self, session_id: str | None, client: Client) -> int:
        """End every session of the caller, this one included; how many ended."""
        caller = await self.caller(session_id)
        actor = Actor.of(caller.user.id, client)
        return await self._end_all(caller.user.id, SessionEndReason.LOGOUT, actor=actor)

    async def _end_all(
        self,
        user_id: UUID,
        reason: SessionEndReason,
        *,
        actor: Actor | None = None,
        keep: str | None = None,
        forget: bool = False,
    ) -> int:
        revoked = session_revoked(reason, actor)
        if forget:
            ended = await self._sessions.forget(user_id, revoked)
        else:
            ended = await self._sessions.revoke_all(user_id, revoked, keep_session_id=keep)
        self._metrics.sessions_ended(reason, ended)
        return ended
