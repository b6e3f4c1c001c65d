"""The second factor's part of the composition root: its ports and use cases, and the
start-up check of its keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.postgres.factors import FactorPgRepository, any_enrolled
from app.adapters.redis.login_tickets import RedisLoginTickets
from app.adapters.secret_box import AesGcmKeyring
from app.config import ConfigError, Settings
from app.config.mfa import MfaSettings, decoded_key
from app.domain.second_factor_ports import (
    FactorMetrics,
    FactorRepository,
    LoginTickets,
    SecretCipher,
)
from app.domain.users import FactorPolicy, Role
from app.lifecycle import Resources
from app.observability.factor_metrics import NoFactorMetrics

KEYS_VARIABLE = "APP_MFA__ENCRYPTION_KEYS"


@dataclass(frozen=True)
class SecondFactorPorts:
    """What the factor's use cases need beyond the common ports, and its settings."""

    factors: FactorRepository
    cipher: SecretCipher
    tickets: LoginTickets
    issuer: str = "user-service"
    ticket_lifetime_seconds: float = 300.0
    policy: FactorPolicy = field(default_factory=FactorPolicy)
    metrics: FactorMetrics = field(default_factory=NoFactorMetrics)


def build_keyring(mfa: MfaSettings) -> AesGcmKeyring:
    keys = {key_id: decoded_key(value) for key_id, value in mfa.encryption_keys.items()}
    return AesGcmKeyring(keys, mfa.current_key_id())


def build_second_factor_ports(settings: Settings, resources: Resources) -> SecondFactorPorts:
    mfa = settings.mfa
    return SecondFactorPorts(
        factors=FactorPgRepository(resources.pool),
        cipher=build_keyring(mfa),
        tickets=RedisLoginTickets(
            resources.redis,
            key_prefix=settings.redis.key_prefix,
            lifetime_seconds=mfa.ticket_lifetime_seconds,
        ),
        issuer=mfa.issuer,
        ticket_lifetime_seconds=mfa.ticket_lifetime_seconds,
        policy=FactorPolicy(frozenset(Role(role) for role in mfa.required_roles)),
        metrics=resources.telemetry.factors,
    )


async def check_factor_keys(settings: Settings, pool: BoundedPool) -> None:
    """Refuse to start without a key while any user has a factor: their logins would fail.

    A service with no key and no enrolled user starts (EnrollTotp then answers
    FAILED_PRECONDITION).
    """
    if not settings.mfa.encryption_keys and await any_enrolled(pool):
        raise ConfigError(
            f"{KEYS_VARIABLE} is not set, but users have a second factor sealed under it"
        )
