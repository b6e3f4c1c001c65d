"""The gRPC service: clients, use cases, health and the edge's layers around the servicer."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from app.adapters.login_secrets import warn_if_random
from app.adapters.passwords import Argon2PasswordHasher
from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.store_states import StoreStates
from app.bootstrap.clients import (
    build_cache_redis,
    build_clients,
    build_password_hasher,
)
from app.bootstrap.events import build_relay
from app.bootstrap.use_cases import UseCases, build_ports, build_use_cases
from app.config import Settings, server_address
from app.domain.errors import Store
from app.domain.passwords import PasswordPolicy
from app.grpc.address_watch import AddressWatch
from app.grpc.health import HealthReporter
from app.grpc.interceptors import (
    EdgeLayer,
    ErrorInterceptor,
    LoggingInterceptor,
    MalformedRequestInterceptor,
)
from app.grpc.limits import ConcurrencyLimitInterceptor, ReceiveTimeoutInterceptor, limit_metrics
from app.grpc.metadata import ClientReader
from app.grpc.server import build_server
from app.grpc.servicer import UserServiceServicer
from app.grpc.store_calls import StoreCallInterceptor
from app.grpc.telemetry_interceptors import telemetry_interceptors
from app.lifecycle import Application
from app.observability.otel import untraced
from app.observability.telemetry import Telemetry


async def build_application(
    settings: Settings,
    *,
    span_exporter: SpanExporter | None = None,
    passwords: Argon2PasswordHasher | None = None,
) -> Application:
    """Build (but do not start) the whole service from ``settings``.

    ``span_exporter`` replaces the OTLP exporter when tracing is on (tests);
    ``passwords`` replaces the hasher built from ``settings.passwords`` (tests
    that are not about hashing use a cheap one; others count or slow it down).
    """
    telemetry = Telemetry(settings, span_exporter)
    states = StoreStates(open_seconds=settings.health.fail_fast_seconds)
    pool, redis = await build_clients(settings, telemetry, states)
    cache_redis = build_cache_redis(settings, redis, telemetry)
    passwords = passwords or build_password_hasher(settings)
    telemetry.watch_hashing(passwords)
    ports = build_ports(settings, pool, redis, cache_redis, passwords, telemetry, stores=states)
    warn_if_random(settings.throttling.secret_key)
    use_cases = build_use_cases(ports)
    health = build_health(settings, pool, redis, states)
    server, port = build_server(
        settings.grpc,
        build_servicer(settings, use_cases, telemetry.registry),
        health,
        interceptors=edge_interceptors(settings, telemetry),
    )
    return Application(
        settings=settings,
        server=server,
        port=port,
        health=health,
        pool=pool,
        redis=redis,
        cache_redis=cache_redis,
        passwords=passwords,
        users=use_cases.users,
        sessions=use_cases.sessions,
        accounts=use_cases.accounts,
        telemetry=telemetry,
        relay=(
            build_relay(settings, pool, redis, telemetry.registry)
            if settings.events.relay_enabled
            else None
        ),
    )


def build_health(
    settings: Settings, pool: BoundedPool, redis: Redis, states: StoreStates
) -> HealthReporter:
    """The health service, probing both stores and telling ``states`` what it saw."""
    probed_stores = {
        f"postgresql at {server_address(settings.postgres.dsn, 5432)}": Store.POSTGRESQL,
        f"redis at {server_address(settings.redis.url, 6379)}": Store.REDIS,
    }
    probes = {
        Store.POSTGRESQL: untraced(lambda: pool.fetchval("SELECT 1")),
        Store.REDIS: untraced(redis.ping),
    }
    return HealthReporter(
        [(name, probes[store]) for name, store in probed_stores.items()],
        interval=settings.health.check_interval_seconds,
        timeout=settings.health.check_timeout_seconds,
        observe=lambda name, answered: states.observed(probed_stores[name], answered),
    )


def build_servicer(
    settings: Settings, use_cases: UseCases, registry: CollectorRegistry | None = None
) -> UserServiceServicer:
    return UserServiceServicer(
        use_cases.users,
        use_cases.sessions,
        use_cases.accounts,
        use_cases.throttling,
        password_policy=password_policy(settings),
        clients=ClientReader(
            settings.grpc.trusted_proxies,
            AddressWatch(registry, proxies_trusted=bool(settings.grpc.trusted_proxies)),
        ),
    )


def password_policy(settings: Settings) -> PasswordPolicy:
    """The password lengths of ``passwords.*``, as the edge and the admin command apply them."""
    return PasswordPolicy(settings.passwords.min_length, settings.passwords.max_length)


def edge_interceptors(settings: Settings, telemetry: Telemetry) -> list[EdgeLayer]:
    """The edge's layers, outermost first (each wraps every method once, at start-up).

    The receive timeout goes first: it serves each unary method as a
    stream-unary one, which the others need not know. The concurrency limit
    goes inside logging and metrics, so refusals are logged and counted; the
    check for undecodable requests stays innermost.
    """
    grpc_settings = settings.grpc
    metrics = limit_metrics(telemetry.registry)
    return [
        ReceiveTimeoutInterceptor(grpc_settings.receive_timeout_seconds, metrics),
        *telemetry_interceptors(telemetry),
        LoggingInterceptor(),
        ConcurrencyLimitInterceptor(
            grpc_settings.method_concurrency,
            grpc_settings.method_concurrency_default,
            metrics,
            client_share=grpc_settings.method_concurrency_client_share,
            trusted_proxies=grpc_settings.trusted_proxies,
        ),
        ErrorInterceptor(),
        StoreCallInterceptor(),
        MalformedRequestInterceptor(),
    ]
