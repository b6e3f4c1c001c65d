"""Reset tokens in memory, over the fake users (as the real store is over the users table)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from app.domain.events import Event
from app.domain.mail import Message
from app.domain.recovery import PasswordResets, ResetGrant
from app.domain.users import AccountKey, Principal, UserStatus, canonical_email
from tests.unit.fakes import FakeUsers


class FakeResets(PasswordResets):
    """One grant per user, bound to the password hash it was issued against."""

    def __init__(self, users: FakeUsers) -> None:
        self.users = users
        self.grants: dict[UUID, tuple[ResetGrant, str]] = {}
        self.messages: list[Message] = []
        self.events: list[Event] = []
        # Every call to ``issue``, stored or not: a request does the same work either way.
        self.issued: list[ResetGrant] = []

    async def holder(self, account: AccountKey) -> Principal | None:
        for principal, _ in self.users.rows.values():
            if canonical_email(principal.user.email) == account:
                return principal
        return None

    async def issue(self, grant: ResetGrant, message: Message, requested: Event) -> bool:
        self.issued.append(grant)
        row = self.users.rows.get(grant.user_id)
        if row is None or row[0].status is not UserStatus.ACTIVE:
            return False
        self.grants[grant.user_id] = (grant, row[1])
        self.messages.append(message)
        self.events.append(requested)
        return True

    async def holder_of(self, digest: bytes, now: datetime) -> Principal | None:
        for grant, password_hash in self.grants.values():
            principal, current_hash = self.users.rows[grant.user_id]
            valid = grant.expires_at > now and current_hash == password_hash
            if grant.digest == digest and valid and principal.status is UserStatus.ACTIVE:
                return principal
        return None

    async def redeem(
        self,
        digest: bytes,
        now: datetime,
        user_id: UUID,
        password_hash: str,
        reset: Event,
        notice: Message,
    ) -> Principal | None:
        holder = await self.holder_of(digest, now)
        if holder is None or holder.user.id != user_id:
            return None
        del self.grants[user_id]
        changed = await self.users.change_password(user_id, password_hash, reset)
        self.users.events.pop()
        self.events.append(reset)
        self.messages.append(notice)
        return changed
