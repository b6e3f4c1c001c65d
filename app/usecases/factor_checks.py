"""Checking a code against a user's factor: what enrolment, its changes and the second
step of login share."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from app.domain import events
from app.domain.clients import Client
from app.domain.ports import Clock, LoginThrottle
from app.domain.second_factor import (
    FactorNotEnrolled,
    InvalidCode,
    RecoveryCode,
    TotpCode,
    is_fresh_step,
    is_totp_code,
    matching_step,
)
from app.domain.second_factor_ports import FactorRepository, SecretCipher, StoredFactor
from app.domain.users import AccountKey


class FactorChecks:
    """Opens secrets (re-sealing those under an old key) and accepts each code once.

    Every check is a guess: it passes the login throttle on the account and the
    address first (``Throttled``, with the time to wait), counts as a failed
    login until it proves right, and a right one clears the account's failures
    as a correct password does. So codes and passwords share one back-off: a
    thief who has the password gets no fresh allowance of code guesses.
    """

    def __init__(
        self,
        factors: FactorRepository,
        cipher: SecretCipher,
        clock: Clock,
        throttle: LoginThrottle,
    ) -> None:
        self._factors = factors
        self._cipher = cipher
        self._clock = clock
        self._throttle = throttle

    def now(self) -> datetime:
        return self._clock.now()

    async def secret(self, user_id: UUID, stored: StoredFactor) -> str:
        """The factor's secret; one sealed under an older key is sealed again under the
        current one (rotation needs no batch job: each secret moves when next used)."""
        associated = user_id.bytes
        secret = self._cipher.open(stored.sealed, associated)
        if not self._cipher.is_current(stored.sealed.key_id):
            resealed = self._cipher.seal(secret, associated)
            await self._factors.reseal(user_id, stored.sealed.key_id, resealed)
        return secret

    async def step_of(self, user_id: UUID, stored: StoredFactor, code: TotpCode) -> int:
        """The step ``code`` matches now and after the last accepted one; ``InvalidCode``."""
        step = matching_step(await self.secret(user_id, stored), code, self._clock.now())
        if step is None or not is_fresh_step(step, stored.last_step):
            raise InvalidCode()
        return step

    async def active(self, user_id: UUID) -> StoredFactor:
        stored = await self._factors.get(user_id)
        if stored is None or not stored.active:
            raise FactorNotEnrolled()
        return stored

    async def guess(
        self, user_id: UUID, account: AccountKey, code: TotpCode | RecoveryCode, client: Client
    ) -> bool:
        """Accept ``code`` for the user's active factor, throttled; ``InvalidCode`` if wrong.

        A TOTP code is accepted once (its step is stored atomically, so a replay,
        even in parallel, is refused); a recovery code is used up with its
        ``user.recovery_code_used`` event. True when it was a recovery code.
        """
        await self._throttle.admit(account, client)
        stored = await self.active(user_id)
        if is_totp_code(code):
            step = await self.step_of(user_id, stored, TotpCode(code))
            if not await self._factors.accept_step(user_id, step):
                raise InvalidCode()
            recovery = False
        else:
            used = events.user_recovery_code_used(user_id, events.Actor.of(user_id, client))
            if not await self._factors.use_recovery_code(user_id, RecoveryCode(code), used):
                raise InvalidCode()
            recovery = True
        await self._throttle.succeeded(account, client)
        return recovery
