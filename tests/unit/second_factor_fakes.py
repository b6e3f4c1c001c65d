"""In-memory fakes of the second factor's Protocols (app/domain/second_factor_ports.py)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from uuid import UUID

from app.domain.events import Event
from app.domain.mail import Message
from app.domain.second_factor import FactorAlreadyActive, FactorKeysMissing, PendingLogin
from app.domain.second_factor import RecoveryCode as RecoveryCodeValue
from app.domain.second_factor_ports import (
    FactorRepository,
    LoginTickets,
    SealedSecret,
    SecretCipher,
    StoredFactor,
)


class FakeCipher(SecretCipher):
    """Not encryption: the secret reversed, under a key id; ``current`` can be moved."""

    def __init__(self, current: str | None = "k1") -> None:
        self.current = current

    @property
    def available(self) -> bool:
        return self.current is not None

    def seal(self, secret: str, associated: bytes) -> SealedSecret:
        if self.current is None:
            raise FactorKeysMissing()
        return SealedSecret(self.current, secret[::-1].encode() + b"|" + associated)

    def open(self, sealed: SealedSecret, associated: bytes) -> str:
        body, _, bound = sealed.ciphertext.partition(b"|")
        assert bound == associated
        return body.decode()[::-1]

    def is_current(self, key_id: str) -> bool:
        return key_id == self.current


class FakeFactors(FactorRepository):
    def __init__(self) -> None:
        self.rows: dict[UUID, StoredFactor] = {}
        self.codes: dict[UUID, dict[str, bool]] = {}  # digest -> used
        self.events: list[Event] = []
        self.notices: list[Message] = []

    @staticmethod
    def _digest(code: str) -> str:
        return hashlib.sha256(code.encode()).hexdigest()

    async def get(self, user_id: UUID) -> StoredFactor | None:
        return self.rows.get(user_id)

    async def is_active(self, user_id: UUID) -> bool:
        stored = self.rows.get(user_id)
        return stored is not None and stored.active

    async def put_pending(self, user_id: UUID, sealed: SealedSecret) -> None:
        if await self.is_active(user_id):
            raise FactorAlreadyActive()
        self.rows[user_id] = StoredFactor(sealed, active=False, last_step=None)

    async def activate(
        self, user_id: UUID, step: int, codes: Sequence[RecoveryCodeValue], enabled: Event
    ) -> bool:
        stored = self.rows.get(user_id)
        if stored is None or stored.active:
            return False
        self.rows[user_id] = dataclasses.replace(stored, active=True, last_step=step)
        await self.replace_recovery_codes(user_id, codes)
        self.events.append(enabled)
        return True

    async def accept_step(self, user_id: UUID, step: int) -> bool:
        stored = self.rows.get(user_id)
        if stored is None or not stored.active:
            return False
        if stored.last_step is not None and stored.last_step >= step:
            return False
        self.rows[user_id] = dataclasses.replace(stored, last_step=step)
        return True

    async def reseal(self, user_id: UUID, old_key_id: str, sealed: SealedSecret) -> None:
        stored = self.rows[user_id]
        if stored.sealed.key_id == old_key_id:
            self.rows[user_id] = dataclasses.replace(stored, sealed=sealed)

    async def replace_recovery_codes(
        self, user_id: UUID, codes: Sequence[RecoveryCodeValue]
    ) -> None:
        self.codes[user_id] = {self._digest(code): False for code in codes}

    async def use_recovery_code(self, user_id: UUID, code: RecoveryCodeValue, used: Event) -> bool:
        mine = self.codes.get(user_id, {})
        digest = self._digest(code)
        if mine.get(digest, True):
            return False
        mine[digest] = True
        self.events.append(used)
        return True

    async def remove(self, user_id: UUID, disabled: Event, notice: Message | None = None) -> bool:
        if not await self.is_active(user_id):
            return False
        del self.rows[user_id]
        self.codes.pop(user_id, None)
        self.events.append(disabled)
        if notice is not None:
            self.notices.append(notice)
        return True


class FakeTickets(LoginTickets):
    def __init__(self) -> None:
        self.live: dict[str, tuple[PendingLogin, int]] = {}

    async def issue(self, ticket: str, pending: PendingLogin) -> None:
        self.live[ticket] = (pending, 0)

    async def get(self, ticket: str) -> PendingLogin | None:
        found = self.live.get(ticket)
        return None if found is None else found[0]

    async def wrong_code(self, ticket: str, limit: int) -> None:
        if ticket in self.live:
            pending, wrong = self.live[ticket]
            if wrong + 1 >= limit:
                del self.live[ticket]
            else:
                self.live[ticket] = (pending, wrong + 1)

    async def consume(self, ticket: str) -> bool:
        return self.live.pop(ticket, None) is not None
