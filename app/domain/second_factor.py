"""A second factor: time-based one-time passwords (RFC 6238) and recovery codes.

The rules are plain functions over plain values. Codes are checked with pyotp
(maintained, RFC 6238 and its test vectors) at the moment the :class:`Clock`
port gives, in a window of one 30-second step either side of it; the step a
code matched is returned so that each step is accepted once per user (the
caller stores the last accepted step and refuses any not after it).

Recovery codes are 79 random bits (16 signs of 31), written as 16 characters of an alphabet
without look-alikes (``0/o``, ``1/l/i``) in four groups: typable, and far
beyond guessing, so a keyed fast hash stores them safely (see
``docs/second-factor.md``).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NewType
from uuid import UUID

import pyotp

from app.domain.errors import DomainError, InvalidInput

STEP_SECONDS = 30
DIGITS = 6
# Steps either side of now whose code is accepted: a phone's clock a little off,
# a code typed as it turns over.
WINDOW_STEPS = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # 31 signs, no 0/o, 1/l/i
RECOVERY_CODE_LENGTH = 16
RECOVERY_CODE_GROUP = 4
# Wrong codes a login ticket survives: the fifth ends it.
TICKET_WRONG_CODES = 5

TotpCode = NewType("TotpCode", str)


class CodeKind(enum.StrEnum):
    """What was offered for a second factor (a metric's label: never the code)."""

    TOTP = "totp"
    RECOVERY = "recovery"


class VerificationOutcome(enum.StrEnum):
    """How a code's check ended: right, wrong, a TOTP step already used, a login ticket
    already dead (unknown, used, expired), or refused by the throttle before checking."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    REPLAYED = "replayed"
    TICKET_DEAD = "ticket_dead"
    THROTTLED = "throttled"


RecoveryCode = NewType("RecoveryCode", str)


class SecondFactorRequired(DomainError):
    """The password was right, but the account needs a second factor: no session.

    What an old client (one that did not set ``second_factor_supported``) gets
    instead of a session; the ErrorInfo reason ``SECOND_FACTOR_REQUIRED`` says why.
    """

    message = "a second factor is required: use a client that supports CompleteLogin"


class SecondFactorEnrolmentRequired(DomainError):
    """An admin call from a user whose role must have a second factor, who has none."""

    message = "a second factor is required for this: enrol one (EnrollTotp, ConfirmTotp) first"


class InvalidCode(DomainError):
    """The code is not one the factor accepts now (wrong, out of the window or used)."""

    message = "the code is not correct"


class InvalidTicket(DomainError):
    """The login ticket is unknown, used, expired or ended by wrong codes."""

    message = "the login ticket is not valid: log in again"


class FactorAlreadyActive(DomainError):
    message = "a second factor is already active: disable it first"


class FactorNotEnrolled(DomainError):
    message = "no second factor is active"


class FactorKeysMissing(DomainError):
    """The service has no key to encrypt TOTP secrets (``APP_MFA__ENCRYPTION_KEYS``)."""

    message = "the service has no MFA key: second factors cannot be enrolled"


@dataclass(frozen=True, slots=True)
class Enrollment:
    """A new, pending factor: its secret (base32) and what an app needs to add it."""

    secret: str
    otpauth_uri: str


def new_enrollment(email: str, issuer: str) -> Enrollment:
    """A fresh 160-bit secret (RFC 4226's recommended length) and its ``otpauth://`` URI."""
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    return Enrollment(secret, totp.provisioning_uri(name=email, issuer_name=issuer))


def matching_step(secret: str, code: TotpCode, now: datetime) -> int | None:
    """The time step within the window whose code ``code`` is; None when none is.

    Every step of the window is computed and compared in constant time, so the
    time taken says nothing about which step (if any) matched.
    """
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    matched = None
    for offset in range(-WINDOW_STEPS, WINDOW_STEPS + 1):
        moment = now + timedelta(seconds=offset * STEP_SECONDS)
        if secrets.compare_digest(totp.at(moment), code):
            matched = totp.timecode(moment)
    return matched


def is_fresh_step(step: int, last_accepted: int | None) -> bool:
    """Whether a code of ``step`` may be accepted: only after the last one accepted."""
    return last_accepted is None or step > last_accepted


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[RecoveryCode]:
    """``count`` fresh recovery codes, as shown to the user (``xxxx-xxxx-xxxx-xxxx``)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append(RecoveryCode(_grouped(raw)))
    return codes


def _grouped(raw: str) -> str:
    return "-".join(
        raw[i : i + RECOVERY_CODE_GROUP] for i in range(0, len(raw), RECOVERY_CODE_GROUP)
    )


def parse_code(raw: str, field: str = "code") -> TotpCode | RecoveryCode:
    """A TOTP code (six digits) or a recovery code (any case, dashes and spaces optional).

    A recovery code comes back in its shown form, so each has one digest.
    """
    value = "".join(raw.split()).lower()
    if len(value) == DIGITS and value.isascii() and value.isdigit():
        return TotpCode(value)
    letters = value.replace("-", "")
    if len(letters) == RECOVERY_CODE_LENGTH and all(c in RECOVERY_CODE_ALPHABET for c in letters):
        return RecoveryCode(_grouped(letters))
    raise InvalidInput(field, f"must be {DIGITS} digits or a recovery code")


def parse_totp_code(raw: str, field: str = "code") -> TotpCode:
    """A TOTP code: six digits (recovery codes are for logging in only)."""
    value = "".join(raw.split())
    if len(value) == DIGITS and value.isascii() and value.isdigit():
        return TotpCode(value)
    raise InvalidInput(field, f"must be {DIGITS} digits")


def parse_step_up_code(raw: str, field: str = "totp_code") -> TotpCode | None:
    """The optional current code of a sensitive change: None when left empty (a user
    without a factor sends none; one with a factor is then refused)."""
    return parse_totp_code(raw, field) if raw.strip() else None


def is_totp_code(code: TotpCode | RecoveryCode) -> bool:
    return len(code) == DIGITS


def kind_of(code: TotpCode | RecoveryCode) -> CodeKind:
    return CodeKind.TOTP if is_totp_code(code) else CodeKind.RECOVERY


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """What a correct password established, kept under a login ticket until a code comes.

    ``account`` (the canonical email) is what the throttle counts guesses on;
    ``sessions_epoch`` the user's at the password check: a password change, a
    revocation or a disable since then ends the ticket.
    """

    user_id: UUID
    account: str
    sessions_epoch: int
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at
