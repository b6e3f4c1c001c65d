"""SessionUseCase: who is calling, and logging out."""

from __future__ import annotations

from app.domain.errors import Unauthenticated
from app.domain.events import user_logged_out
from app.domain.users import User
from app.observability.trace_context import current_traceparent
from app.observability.tracing import traced
from app.usecases.ports import SessionStore


class SessionUseCase:
    """Resolves session ids to users; GetMe's whole path is one store call."""

    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    @traced
    async def authenticate(self, session_id: str | None) -> User:
        """The session's user, sliding its expiry; ``Unauthenticated`` otherwise."""
        if not session_id:
            raise Unauthenticated()
        user = await self._sessions.touch(session_id)
        if user is None:
            raise Unauthenticated()
        return user

    @traced
    async def optional_caller(self, session_id: str | None) -> User | None:
        """The caller if a session was presented; ``Unauthenticated`` if it is not valid."""
        if not session_id:
            return None
        return await self.authenticate(session_id)

    @traced
    async def logout(self, session_id: str | None) -> None:
        """End the session and publish ``user.logged_out`` with it, atomically.

        A missing or already ended session is ``Unauthenticated`` (and no event).
        """
        if not session_id:
            raise Unauthenticated()
        if await self._sessions.delete(session_id, user_logged_out(current_traceparent())) is None:
            raise Unauthenticated()
