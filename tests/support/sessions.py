"""Principals and session calls for the session store's contract tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.domain.clients import Client
from app.domain.events import Event, EventType, session_revoked, user_logged_in
from app.domain.ports import SessionStore
from app.domain.sessions import SessionEndReason
from app.domain.users import Principal, Role, User, UserStatus

CLIENT = Client(address="192.0.2.7", user_agent="store-contract")


def principal(version: int = 1, epoch: int = 0) -> Principal:
    """An active user's principal, a new user each call."""
    now = datetime.now(UTC)
    user = User(uuid.uuid4(), "s@example.com", "S", "T", Role.USER, None, now, now)
    return Principal(user, UserStatus.ACTIVE, version=version, sessions_epoch=epoch)


async def create(
    store: SessionStore, session_id: str, of: Principal, client: Client = CLIENT
) -> int | None:
    """Open a session as login does; how many the cap ended, None when refused."""
    return await store.create(
        session_id, of, client, user_logged_in(of.user), session_revoked(SessionEndReason.CAP)
    )


def revoked(reason: SessionEndReason = SessionEndReason.REVOKED) -> Event:
    return session_revoked(reason)


def ended(events: list[Event]) -> list[dict[str, str]]:
    """The data (``reason``, ``handle``) of every ``session.revoked`` in ``events``."""
    return [dict(e.data) for e in events if e.type is EventType.SESSION_REVOKED]


async def handle_of(store: SessionStore, of: Principal, session_id: str) -> str:
    """The handle of a live session, as its owner sees it."""
    records = await store.list(of.user.id, session_id)
    return next(record.handle for record in records if record.current)
