"""What the second factor's use cases need from the outside world, as Protocols.

Beside :mod:`app.domain.ports` (whose conventions hold: every method may raise
``StoreUnavailable``), in a module of their own so the factor stays one piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from app.domain.events import Event
from app.domain.mail import Message
from app.domain.second_factor import (
    CodeKind,
    PendingLogin,
    RecoveryCode,
    VerificationOutcome,
)
from app.domain.users import AccountKey, Principal


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """A TOTP secret encrypted at rest: the id of the key it is under, and its bytes."""

    key_id: str
    ciphertext: bytes


class SecretCipher(Protocol):
    """Authenticated encryption of TOTP secrets under rotating keys (AES-GCM).

    ``associated`` (the user's id) is bound to the ciphertext: a sealed secret
    copied to another user's row does not open.
    """

    @property
    def available(self) -> bool:
        """Whether any key is configured (without one nothing is sealed or opened)."""
        ...

    def seal(self, secret: str, associated: bytes) -> SealedSecret:
        """Encrypt under the current key; ``FactorKeysMissing`` without keys."""
        ...

    def open(self, sealed: SealedSecret, associated: bytes) -> str:
        """Decrypt under the key it names; ``FactorKeysMissing`` if that key is gone."""
        ...

    def is_current(self, key_id: str) -> bool:
        """Whether ``key_id`` is the key new secrets are sealed under."""
        ...


@dataclass(frozen=True, slots=True)
class StoredFactor:
    """A user's factor as stored: sealed, pending or active, and its last accepted step."""

    sealed: SealedSecret
    active: bool
    last_step: int | None


class FactorRepository(Protocol):
    """Users' factors and recovery codes (PostgreSQL).

    Recovery codes are stored as digests only, made by the repository; each
    change that is audited is written with its event in one transaction.
    """

    async def get(self, user_id: UUID) -> StoredFactor | None: ...

    async def is_active(self, user_id: UUID) -> bool: ...

    async def put_pending(self, user_id: UUID, sealed: SealedSecret) -> None:
        """Store a pending factor, replacing a pending one; ``FactorAlreadyActive`` if active."""
        ...

    async def activate(
        self, user_id: UUID, step: int, codes: Sequence[RecoveryCode], enabled: Event
    ) -> bool:
        """Make the pending factor active with ``step`` accepted and ``codes`` its recovery
        codes, and add ``enabled``, in one transaction; False if nothing was pending."""
        ...

    async def accept_step(self, user_id: UUID, step: int) -> bool:
        """Record ``step`` as accepted unless one as late was already (a replay): atomically."""
        ...

    async def reseal(self, user_id: UUID, old_key_id: str, sealed: SealedSecret) -> None:
        """Store the secret re-encrypted, unless it was changed meanwhile."""
        ...

    async def replace_recovery_codes(self, user_id: UUID, codes: Sequence[RecoveryCode]) -> None:
        """Drop the user's recovery codes, used or not, and store ``codes``."""
        ...

    async def use_recovery_code(self, user_id: UUID, code: RecoveryCode, used: Event) -> bool:
        """Mark an unused active code of the user used and add ``used``, atomically;
        False (nothing written) when it is not one."""
        ...

    async def remove(self, user_id: UUID, disabled: Event, notice: Message | None = None) -> bool:
        """Delete the factor and its codes and add ``disabled`` and ``notice`` (the mail
        that tells the user), atomically; False (nothing written) if there was none."""
        ...


class LoginTickets(Protocol):
    """Short-lived, single-use tickets between a correct password and a code (Redis).

    Stored under a digest of the ticket only, expiring with its lifetime.
    """

    async def issue(self, ticket: str, pending: PendingLogin) -> None: ...

    async def get(self, ticket: str) -> PendingLogin | None: ...

    async def wrong_code(self, ticket: str, limit: int) -> None:
        """Count a wrong code; at ``limit`` the ticket ends."""
        ...

    async def consume(self, ticket: str) -> bool:
        """End the ticket; True only for the one call that ended it (single use)."""
        ...


class SecondFactorGate(Protocol):
    """What Login asks once the password is right: is a second factor needed, and if so
    the ticket that stands for the password until the code comes."""

    async def required(self, principal: Principal) -> bool: ...

    async def ticket(self, principal: Principal, account: AccountKey) -> str: ...


class FactorMetrics(Protocol):
    """Counts of code verifications by kind and outcome (Prometheus, or nothing); no
    user, code or secret is ever a label."""

    def verification(self, kind: CodeKind, outcome: VerificationOutcome) -> None: ...
