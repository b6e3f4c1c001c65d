"""SecondFactorUseCase: a user enrols, confirms, renews recovery codes and disables TOTP."""

from __future__ import annotations

from app.domain import events
from app.domain.clients import Client
from app.domain.passwords import OfferedPassword
from app.domain.ports import LoginThrottle, PasswordHasher, UserRepository
from app.domain.second_factor import (
    Enrollment,
    FactorKeysMissing,
    FactorNotEnrolled,
    InvalidCode,
    RecoveryCode,
    TotpCode,
    matching_step,
    new_enrollment,
    new_recovery_codes,
)
from app.domain.second_factor_ports import FactorRepository, SecretCipher
from app.domain.users import Principal, canonical_email
from app.observability.tracing import traced
from app.usecases.account_checks import confirm_password
from app.usecases.factor_checks import FactorChecks


class SecondFactorUseCase:
    """The rules of a user's own factor; the caller is always the session's user."""

    def __init__(
        self,
        factors: FactorRepository,
        cipher: SecretCipher,
        checks: FactorChecks,
        *,
        users: UserRepository,
        passwords: PasswordHasher,
        throttle: LoginThrottle,
        issuer: str,
    ) -> None:
        self._factors = factors
        self._cipher = cipher
        self._checks = checks
        self._users = users
        self._passwords = passwords
        self._throttle = throttle
        self._issuer = issuer

    @traced
    async def enroll(self, caller: Principal) -> Enrollment:
        """A new pending secret, replacing any pending one; ``FactorAlreadyActive`` when
        one is active, ``FactorKeysMissing`` when the service has no key to seal it."""
        if not self._cipher.available:
            raise FactorKeysMissing()
        user = caller.user
        enrollment = new_enrollment(user.email, self._issuer)
        sealed = self._cipher.seal(enrollment.secret, user.id.bytes)
        await self._factors.put_pending(user.id, sealed)
        return enrollment

    @traced
    async def confirm(
        self, caller: Principal, code: TotpCode, client: Client
    ) -> list[RecoveryCode]:
        """Activate the pending factor with a code from the app; its recovery codes, once.

        ``FactorNotEnrolled`` with nothing pending (or already active), ``InvalidCode``.
        """
        user_id = caller.user.id
        account = canonical_email(caller.user.email)
        stored = await self._factors.get(user_id)
        if stored is None or stored.active:
            raise FactorNotEnrolled()
        await self._throttle.admit(account, client)
        secret = await self._checks.secret(user_id, stored)
        step = matching_step(secret, code, self._checks.now())
        if step is None:
            raise InvalidCode()
        codes = new_recovery_codes()
        enabled = events.user_mfa_enabled(user_id, events.Actor.of(user_id, client))
        if not await self._factors.activate(user_id, step, codes, enabled):
            raise FactorNotEnrolled()
        await self._throttle.succeeded(account, client)
        return codes

    @traced
    async def regenerate_recovery_codes(
        self, caller: Principal, code: TotpCode, client: Client
    ) -> list[RecoveryCode]:
        """New recovery codes in place of all the old ones, for a current TOTP code."""
        user_id = caller.user.id
        await self._checks.guess(user_id, canonical_email(caller.user.email), code, client)
        codes = new_recovery_codes()
        await self._factors.replace_recovery_codes(user_id, codes)
        return codes

    @traced
    async def disable(
        self, caller: Principal, current: OfferedPassword, code: TotpCode, client: Client
    ) -> None:
        """Remove the factor for the current password and a current code.

        The password is checked as ChangePassword checks it (``WrongPassword``),
        then the code (``InvalidCode``); ``FactorNotEnrolled`` without a factor.
        """
        user_id = caller.user.id
        await self._checks.active(user_id)
        await confirm_password(
            caller,
            current,
            client,
            users=self._users,
            passwords=self._passwords,
            throttle=self._throttle,
        )
        await self._checks.guess(user_id, canonical_email(caller.user.email), code, client)
        disabled = events.user_mfa_disabled(user_id, events.Actor.of(user_id, client))
        if not await self._factors.remove(user_id, disabled):
            raise FactorNotEnrolled()
