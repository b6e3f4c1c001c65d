"""The use cases composed from their ports: the adapters here, the fakes in the unit tests."""

from __future__ import annotations

from dataclasses import dataclass

from app.adapters.device_tokens import SignedDeviceTokens
from app.adapters.login_secrets import LoginSecrets
from app.adapters.page_tokens import SignedPageTokens
from app.adapters.postgres.outbox import OutboxPgRepository
from app.adapters.postgres.user_directory import UserDirectoryPg
from app.adapters.postgres.users import UserPgRepository
from app.adapters.postgres.verifications import VerificationPgRepository
from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.login_throttle import LoginBackoff, RedisLoginThrottle
from app.adapters.redis.sessions import SessionRedisRepository
from app.adapters.redis.user_cache import UserRedisCache
from app.bootstrap.event_processes import event_streams
from app.bootstrap.recovery import RecoveryPorts, build_recovery_ports
from app.bootstrap.second_factor import SecondFactorPorts, build_second_factor_ports
from app.config import Settings
from app.domain.device_tokens import DeviceTokens
from app.domain.event_ports import EventOutbox
from app.domain.listing import PageTokens, UserDirectory
from app.domain.ports import (
    Clock,
    IdSource,
    LoginThrottle,
    PasswordHasher,
    SessionMetrics,
    SessionStore,
    StoreAvailability,
    UserCache,
    UserRepository,
)
from app.domain.throttling import LimitedAction
from app.domain.verification import VerificationRepository
from app.lifecycle import Resources
from app.observability.setup.telemetry import Telemetry
from app.usecases.account_checks import AccountPortSet
from app.usecases.accounts import AccountUseCase
from app.usecases.factor_checks import FactorChecks
from app.usecases.factor_guard import FactorGuard
from app.usecases.listing import ListingUseCase
from app.usecases.login_completion import LoginCompletion, SecondStep
from app.usecases.profiles import ProfileUseCase
from app.usecases.recovery import RecoveryUseCase
from app.usecases.second_factor import SecondFactorUseCase
from app.usecases.sessions import SessionUseCase
from app.usecases.throttling import ThrottleUseCase
from app.usecases.users import UserUseCase
from app.usecases.verification import VerificationTokens, VerificationUseCase


@dataclass(frozen=True)
class Ports:
    """What the use cases need, port by port: adapters in the service, fakes in unit tests."""

    users: UserRepository
    cache: UserCache
    sessions: SessionStore
    passwords: PasswordHasher
    outbox: EventOutbox
    throttle: LoginThrottle
    metrics: SessionMetrics
    stores: StoreAvailability
    devices: DeviceTokens
    clock: Clock
    ids: IdSource
    directory: UserDirectory
    page_tokens: PageTokens
    second_factor: SecondFactorPorts
    recovery: RecoveryPorts
    verification: VerificationPorts


@dataclass(frozen=True)
class VerificationPorts:
    """Where verification tokens are kept, and their settings."""

    verifications: VerificationRepository
    token_lifetime_seconds: float = 24 * 3600.0
    required_for_login: bool = False


@dataclass(frozen=True)
class UseCases:
    users: UserUseCase
    sessions: SessionUseCase
    accounts: AccountUseCase
    throttling: ThrottleUseCase
    listing: ListingUseCase
    profiles: ProfileUseCase
    second_factor: SecondFactorUseCase
    login_completion: LoginCompletion
    recovery: RecoveryUseCase
    verification: VerificationUseCase


def build_use_cases(ports: Ports) -> UseCases:
    """The use cases over ``ports``: one plain mapping of ports to constructor arguments."""
    factor = ports.second_factor
    checks = FactorChecks(
        factor.factors, factor.cipher, ports.clock, ports.throttle, factor.metrics
    )
    guard = FactorGuard(factor.factors, checks, factor.policy)
    account_ports = AccountPortSet(
        users=ports.users,
        cache=ports.cache,
        sessions=ports.sessions,
        passwords=ports.passwords,
        throttle=ports.throttle,
        metrics=ports.metrics,
        factors=factor.factors,
        guard=guard,
    )
    verification = ports.verification
    tokens = VerificationTokens(
        ports.clock, ports.ids, lifetime_seconds=verification.token_lifetime_seconds
    )
    verification_cases = VerificationUseCase(
        account_ports,
        verifications=verification.verifications,
        tokens=tokens,
        clock=ports.clock,
        ids=ports.ids,
    )
    users = UserUseCase(
        account_ports,
        verification_tokens=tokens,
        require_verified_email=verification.required_for_login,
        resend_verification=verification_cases.resend_at_login,
        outbox=ports.outbox,
        stores=ports.stores,
        devices=ports.devices,
        second_factor=SecondStep(
            factor.factors,
            factor.tickets,
            ports.clock,
            ports.ids,
            ticket_lifetime_seconds=factor.ticket_lifetime_seconds,
        ),
    )
    return UseCases(
        users=users,
        second_factor=SecondFactorUseCase(
            factor.factors,
            factor.cipher,
            checks,
            users=ports.users,
            passwords=ports.passwords,
            throttle=ports.throttle,
            issuer=factor.issuer,
        ),
        login_completion=LoginCompletion(
            factor.tickets,
            checks,
            users=ports.users,
            devices=ports.devices,
            stores=ports.stores,
            open_session=users.open_session,
        ),
        sessions=SessionUseCase(ports.sessions, ports.users, ports.metrics),
        accounts=AccountUseCase(account_ports),
        throttling=ThrottleUseCase(ports.throttle, guard),
        listing=ListingUseCase(ports.directory, ports.page_tokens, guard),
        profiles=ProfileUseCase(account_ports),
        recovery=RecoveryUseCase(
            ports.recovery.resets,
            sessions=ports.sessions,
            cache=ports.cache,
            passwords=ports.passwords,
            throttle=ports.throttle,
            metrics=ports.metrics,
            guard=guard,
            policy=ports.recovery.policy,
            clock=ports.clock,
            ids=ports.ids,
            token_lifetime_seconds=ports.recovery.token_lifetime_seconds,
            request_floor_seconds=ports.recovery.request_floor_seconds,
        ),
        verification=verification_cases,
    )


def build_ports(settings: Settings, resources: Resources) -> Ports:
    """The adapters over a process's open ``resources``, which must include the hasher.

    Building them twice over the same resources is harmless: the metrics they
    report to belong to the resources' telemetry.
    """
    if resources.passwords is None or resources.login_root is None:
        raise ValueError("the use cases need resources opened with hashing")
    prefix = settings.redis.key_prefix
    session_settings = settings.sessions
    login_secrets = LoginSecrets(resources.login_root)
    pool, redis, telemetry = resources.pool, resources.redis, resources.telemetry
    return Ports(
        users=UserPgRepository(pool),
        cache=UserRedisCache(
            resources.cache_redis, key_prefix=prefix, ttl_seconds=settings.cache.user_ttl_seconds
        ),
        sessions=SessionRedisRepository(
            redis,
            key_prefix=prefix,
            ttl_seconds=session_settings.ttl_seconds,
            absolute_lifetime_seconds=session_settings.absolute_lifetime_seconds,
            max_per_user=session_settings.max_per_user,
            user_refresh_seconds=session_settings.user_refresh_seconds,
            streams=event_streams(settings),
            stream_max_length=settings.events.max_length,
            cluster=settings.redis.cluster,
        ),
        passwords=resources.passwords,
        outbox=OutboxPgRepository(pool),
        throttle=build_throttle(settings, redis, telemetry, login_secrets),
        metrics=telemetry.sessions,
        stores=resources.states,
        devices=SignedDeviceTokens(
            login_secrets, lifetime_seconds=settings.throttling.device_token_lifetime_seconds
        ),
        clock=resources.clock,
        ids=resources.ids,
        directory=UserDirectoryPg(pool),
        page_tokens=SignedPageTokens(
            login_secrets.page_token_key,
            lifetime_seconds=settings.listing.page_token_lifetime_seconds,
            clock=resources.clock,
        ),
        second_factor=build_second_factor_ports(settings, resources),
        recovery=build_recovery_ports(settings, pool),
        verification=VerificationPorts(
            VerificationPgRepository(pool),
            token_lifetime_seconds=settings.verification.token_lifetime_seconds,
            required_for_login=settings.verification.required_for_login,
        ),
    )


def build_throttle(
    settings: Settings, redis: RedisClient, telemetry: Telemetry, login_secrets: LoginSecrets
) -> RedisLoginThrottle:
    throttling, recovery = settings.throttling, settings.recovery
    return RedisLoginThrottle(
        redis,
        key_prefix=settings.redis.key_prefix,
        backoff=LoginBackoff(
            account_free_failures=throttling.account_free_failures,
            address_free_failures=throttling.address_free_failures,
            first_wait_seconds=throttling.first_wait_seconds,
            max_wait_seconds=throttling.max_wait_seconds,
            forget_after_seconds=throttling.forget_after_seconds,
            known_address_seconds=throttling.known_address_seconds,
            successes_per_account_per_minute=throttling.successful_logins_per_account_per_minute,
            successes_per_address_per_minute=throttling.successful_logins_per_address_per_minute,
        ),
        actions_per_minute={
            LimitedAction.REGISTER: throttling.register_per_address_per_minute,
            LimitedAction.CHANGE_PASSWORD: throttling.change_password_per_address_per_minute,
            LimitedAction.PASSWORD_RESET_REQUEST: recovery.requests_per_address_per_minute,
            LimitedAction.PASSWORD_RESET_GUESS: recovery.guesses_per_address_per_minute,
            LimitedAction.RESEND_VERIFICATION: settings.verification.resend_per_minute,
        },
        metrics=telemetry.throttle,
        login_secrets=login_secrets,
        account_actions_per_minute={
            LimitedAction.PASSWORD_RESET_REQUEST: recovery.requests_per_account_per_minute,
            LimitedAction.RESEND_VERIFICATION: settings.verification.resend_per_minute,
        },
    )
