"""An in-memory ``VerificationRepository`` over the fake users' rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from app.domain.errors import EmailTaken
from app.domain.events import Event
from app.domain.mail import Message
from app.domain.users import Principal, canonical_email
from app.domain.verification import (
    InvalidVerificationToken,
    Verification,
    VerificationRepository,
    Verified,
)
from tests.unit.fakes import FakeUsers


class FakeVerifications(VerificationRepository):
    """Tokens kept in ``users.verifications`` (where a registration puts its own)."""

    def __init__(self, users: FakeUsers) -> None:
        self.users = users
        self.used: set[str] = set()
        self.messages: list[Message] = []

    async def issue(self, verification: Verification) -> None:
        for older in self.users.verifications:
            if older.user_id == verification.user_id and older.is_change == verification.is_change:
                self.used.add(older.digest)
        self.users.verifications.append(verification)

    async def use(
        self,
        digest: str,
        now: datetime,
        *,
        verified: Callable[[UUID], Event],
        changed: Callable[[UUID, str, str], Event],
        notice: Callable[[Principal, str], Message],
    ) -> Verified:
        found = [v for v in self.users.verifications if v.digest == digest]
        if not found or digest in self.used or found[0].expires_at <= now:
            raise InvalidVerificationToken()
        token = found[0]
        principal, password_hash = self.users.rows[token.user_id]
        previous = principal.user.email
        if not token.is_change:
            if canonical_email(previous) != token.account:
                raise InvalidVerificationToken()
            event = verified(token.user_id)
            user = replace(principal.user, email_verified=True)
        else:
            for other, _ in self.users.rows.values():
                if (
                    other.user.id != token.user_id
                    and canonical_email(other.user.email) == token.account
                ):
                    raise EmailTaken()
            event = changed(token.user_id, previous, token.email)
            user = replace(principal.user, email=token.email, email_verified=True)
        after = replace(principal, user=user, version=principal.version + 1)
        self.users.rows[token.user_id] = (after, password_hash)
        self.users.events.append(event)
        if token.is_change:
            self.messages.append(notice(after, previous))
        self.used.add(digest)
        return Verified(after, previous, changed=token.is_change)
