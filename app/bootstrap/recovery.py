"""Recovery's part of the composition root: its ports and settings, and the password rules
(``passwords.*``) the edge, the admin command and ResetPassword apply."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from app.adapters.postgres.password_resets import PasswordResetPgRepository
from app.config import Settings
from app.domain.passwords import PasswordPolicy
from app.domain.recovery import PasswordResets


@dataclass(frozen=True)
class RecoveryPorts:
    """What recovery needs beyond the common ports, and its settings."""

    resets: PasswordResets
    policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    token_lifetime_seconds: float = 900.0
    request_floor_seconds: float = 0.0


def password_policy(settings: Settings) -> PasswordPolicy:
    """The password rules of ``passwords.*``."""
    configured = settings.passwords
    return PasswordPolicy(configured.min_length, configured.max_length, configured.min_score)


def build_recovery_ports(settings: Settings, pool: asyncpg.Pool) -> RecoveryPorts:
    return RecoveryPorts(
        PasswordResetPgRepository(pool),
        policy=password_policy(settings),
        token_lifetime_seconds=settings.recovery.token_lifetime_seconds,
        request_floor_seconds=settings.recovery.request_floor_seconds,
    )
