"""Checking a code against a user's factor: what enrolment, its changes and the second
step of login share."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from app.domain import events
from app.domain.clients import Client
from app.domain.errors import Throttled
from app.domain.ports import Clock, LoginThrottle
from app.domain.second_factor import (
    FactorNotEnrolled,
    InvalidCode,
    RecoveryCode,
    TotpCode,
    VerificationOutcome,
    is_fresh_step,
    is_totp_code,
    kind_of,
    matching_step,
)
from app.domain.second_factor_ports import (
    FactorMetrics,
    FactorRepository,
    SecretCipher,
    StoredFactor,
)
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
        metrics: FactorMetrics,
    ) -> None:
        self._factors = factors
        self._cipher = cipher
        self._clock = clock
        self._throttle = throttle
        self._metrics = metrics

    def count(self, code: TotpCode | RecoveryCode, outcome: VerificationOutcome) -> None:
        """Count one verification of ``code``'s kind (``mfa_verifications_total``)."""
        self._metrics.verification(kind_of(code), outcome)

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
        try:
            await self._throttle.admit(account, client)
        except Throttled:
            self.count(code, VerificationOutcome.THROTTLED)
            raise
        stored = await self.active(user_id)
        if is_totp_code(code):
            await self._accept_step(user_id, stored, TotpCode(code))
            recovery = False
        else:
            used = events.user_recovery_code_used(user_id, events.Actor.of(user_id, client))
            if not await self._factors.use_recovery_code(user_id, RecoveryCode(code), used):
                self.count(code, VerificationOutcome.WRONG)
                raise InvalidCode()
            recovery = True
        self.count(code, VerificationOutcome.ACCEPTED)
        await self._throttle.succeeded(account, client)
        return recovery

    async def _accept_step(self, user_id: UUID, stored: StoredFactor, code: TotpCode) -> None:
        """Store ``code``'s step as accepted; ``InvalidCode`` (counted wrong or replayed)."""
        step = matching_step(await self.secret(user_id, stored), code, self._clock.now())
        if step is None:
            self.count(code, VerificationOutcome.WRONG)
            raise InvalidCode()
        fresh = is_fresh_step(step, stored.last_step)
        if not fresh or not await self._factors.accept_step(user_id, step):
            self.count(code, VerificationOutcome.REPLAYED)
            raise InvalidCode()
