"""The gRPC service: clients, use cases, health and the edge's layers around the servicer."""

from __future__ import annotations

from contextlib import AsyncExitStack

from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry

from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.redis.bounded_client import RedisClient
from app.adapters.store_states import StoreStates
from app.bootstrap.event_processes import build_relay
from app.bootstrap.mail import build_courier
from app.bootstrap.recovery import password_policy
from app.bootstrap.resources import Overrides, migrate_if_asked, open_resources_for
from app.bootstrap.use_cases import UseCases, build_ports, build_use_cases
from app.config import Settings, server_address
from app.domain.errors import Store
from app.domain.listing import PageSizes
from app.domain.ports import Clock, IdSource, PasswordHasher
from app.grpc.address_watch import AddressWatch
from app.grpc.health import HealthReporter
from app.grpc.layers import (
    EdgeLayer,
    ErrorLayer,
    LoggingLayer,
    MalformedRequestLayer,
)
from app.grpc.limits import ConcurrencyLimitLayer, ReceiveTimeoutLayer, limit_metrics
from app.grpc.metadata import ClientReader
from app.grpc.server import build_server
from app.grpc.servicer import UserServiceServicer
from app.grpc.store_calls import StoreCallLayer
from app.grpc.telemetry_layers import telemetry_layers
from app.lifecycle import Application, Resources
from app.observability.setup.telemetry import Telemetry
from app.observability.tracing import untraced


async def build_application(
    settings: Settings,
    *,
    span_exporter: SpanExporter | None = None,
    passwords: PasswordHasher | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
) -> Application:
    """Build (but do not start) the whole service from ``settings``; it migrates first
    when ``postgres.migrate_on_start``.

    The keyword arguments replace what tests and benchmarks swap (see
    :class:`~app.bootstrap.resources.Overrides`): tests that are not about
    hashing hand a cheap hasher; others count or slow it down. The
    application's :meth:`~app.lifecycle.Application.stop` closes its resources.
    """
    await migrate_if_asked(settings)
    return await open_resources_for(
        settings,
        lambda resources, closing: _application(settings, resources, closing),
        Overrides(passwords, span_exporter, clock, ids),
    )


def _application(settings: Settings, resources: Resources, closing: AsyncExitStack) -> Application:
    use_cases = build_use_cases(build_ports(settings, resources))
    health = build_health(settings, resources.pool, resources.redis, resources.states)
    telemetry = resources.telemetry
    server, port = build_server(
        settings.grpc,
        build_servicer(settings, use_cases, telemetry.registry),
        health,
        layers=edge_layers(settings, telemetry),
    )
    relay = (
        build_relay(settings, resources.pool, resources.redis, telemetry.registry)
        if settings.events.relay_enabled
        else None
    )
    courier = (
        build_courier(settings, resources.pool, telemetry.registry)
        if settings.mail.courier_enabled
        else None
    )
    return Application(server, port, health, resources, closing, relay, courier)


def build_health(
    settings: Settings, pool: BoundedPool, redis: RedisClient, states: StoreStates
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
        profiles=use_cases.profiles,
        password_policy=password_policy(settings),
        clients=ClientReader(
            settings.grpc.trusted_proxies,
            AddressWatch(registry, proxies_trusted=bool(settings.grpc.trusted_proxies)),
        ),
        listing=use_cases.listing,
        page_sizes=PageSizes(settings.listing.default_page_size, settings.listing.max_page_size),
        second_factor=use_cases.second_factor,
        login_completion=use_cases.login_completion,
        avatar_schemes=frozenset(settings.profiles.avatar_schemes),
        recovery=use_cases.recovery,
        verification=use_cases.verification,
    )


def edge_layers(settings: Settings, telemetry: Telemetry) -> list[EdgeLayer]:
    """The edge's layers, outermost first (each wraps every method once, at start-up).

    The receive timeout goes first: it serves each unary method as a
    stream-unary one, which the others need not know. The concurrency limit
    goes inside logging and metrics, so refusals are logged and counted; the
    check for undecodable requests stays innermost.
    """
    grpc_settings = settings.grpc
    metrics = limit_metrics(telemetry.registry)
    return [
        ReceiveTimeoutLayer(grpc_settings.receive_timeout_seconds, metrics),
        *telemetry_layers(traced=telemetry.tracing is not None, registry=telemetry.registry),
        LoggingLayer(),
        ConcurrencyLimitLayer(
            grpc_settings.method_concurrency,
            grpc_settings.method_concurrency_default,
            metrics,
            client_share=grpc_settings.method_concurrency_client_share,
            trusted_proxies=grpc_settings.trusted_proxies,
        ),
        ErrorLayer(),
        StoreCallLayer(),
        MalformedRequestLayer(),
    ]
