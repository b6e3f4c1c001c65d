"""What a process owns, opened in one place: telemetry, the stores' clients, the hasher.

:func:`open_resources` is the one owner: each resource registers its cleanup
on the exit stack right where it is made, so they close in reverse order of
opening whatever fails half-way — the hasher, the Redis clients, the pool,
and telemetry last, so the spans of everything before are flushed. A process
drains what uses them (the server, an events loop) before leaving the block.

Migrating is a step of its own (:func:`migrate`), run before opening.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from opentelemetry.sdk.trace.export import SpanExporter

from app.adapters.login_secrets import login_root
from app.adapters.postgres.database import DatabaseMissing, prepare_database
from app.adapters.store_states import StoreStates
from app.adapters.system import RandomIds, SystemClock
from app.bootstrap.second_factor import check_factor_keys
from app.bootstrap.store_clients import (
    build_cache_redis,
    build_password_hasher,
    build_pool,
    build_redis,
)
from app.config import ConfigError, Settings
from app.domain.ports import Clock, IdSource, PasswordHasher
from app.lifecycle import Resources
from app.observability.setup.metrics import HashingQueue
from app.observability.setup.telemetry import Telemetry

T = TypeVar("T")


@dataclass(frozen=True)
class Overrides:
    """What tests and benchmarks swap, each typed to its port; None: built from the settings.

    ``passwords`` replaces the hasher of ``settings.passwords``, ``span_exporter``
    the OTLP exporter when tracing is on. A handed-in hasher is owned once it is
    opened: closed with the rest when it can be, its queue measured when it has
    one. ``clock`` and ``ids`` reach the use cases' :class:`~app.bootstrap.Ports`
    (the system's clock and the OS's randomness otherwise).
    """

    passwords: PasswordHasher | None = None
    span_exporter: SpanExporter | None = None
    clock: Clock | None = None
    ids: IdSource | None = None


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class _MeasuredQueue(HashingQueue, Protocol):
    pass


@asynccontextmanager
async def open_resources(
    settings: Settings,
    overrides: Overrides | None = None,
    *,
    hashing: bool = True,
    bounded_redis: bool = True,
) -> AsyncIterator[Resources]:
    """Open what a process of ``settings`` needs; close it all when the block ends.

    ``hashing=False`` builds no password hasher and reads no login secret (a
    process that verifies no password). With ``bounded_redis=False`` the main
    Redis client's commands are bounded by the socket timeout only, as a consumer's blocking reads
    need (see :func:`~app.bootstrap.store_clients.build_redis`).
    """
    overrides = overrides or Overrides()
    async with AsyncExitStack() as stack:
        telemetry = Telemetry(settings, overrides.span_exporter)
        stack.callback(telemetry.shutdown)
        states = StoreStates(open_seconds=settings.health.fail_fast_seconds)
        pool = await build_pool(settings, telemetry, states)
        stack.push_async_callback(pool.close)
        redis = build_redis(settings, states=states if bounded_redis else None)
        stack.push_async_callback(redis.aclose)
        telemetry.instrument_redis(redis)
        cache_redis = build_cache_redis(settings, redis, telemetry)
        if cache_redis is not redis:
            stack.push_async_callback(cache_redis.aclose)
        passwords = _open_hasher(settings, overrides, telemetry, stack) if hashing else None
        root = await login_root(settings.throttling.secret_key, pool) if hashing else None
        if hashing:  # a process that logs users in must open their factors
            await check_factor_keys(settings, pool)
        yield Resources(
            settings=settings,
            telemetry=telemetry,
            states=states,
            pool=pool,
            redis=redis,
            cache_redis=cache_redis,
            passwords=passwords,
            login_root=root,
            clock=overrides.clock or SystemClock(),
            ids=overrides.ids or RandomIds(),
        )


async def open_resources_for(
    settings: Settings,
    owner: Callable[[Resources, AsyncExitStack], T],
    overrides: Overrides | None = None,
    *,
    hashing: bool = True,
    bounded_redis: bool = True,
) -> T:
    """What ``owner(resources, closing)`` builds over newly opened resources.

    For a process whose resources outlive this call (the service, an events
    process): the owner keeps ``closing`` and closes it when it stops. If
    opening or building fails, what was opened is closed here.
    """
    closing = AsyncExitStack()
    try:
        resources = await closing.enter_async_context(
            open_resources(settings, overrides, hashing=hashing, bounded_redis=bounded_redis)
        )
        return owner(resources, closing)
    except BaseException:
        await closing.aclose()
        raise


def _open_hasher(
    settings: Settings, overrides: Overrides, telemetry: Telemetry, stack: AsyncExitStack
) -> PasswordHasher:
    passwords = overrides.passwords or build_password_hasher(settings)
    if isinstance(passwords, _Closable):
        stack.callback(passwords.close)
    if isinstance(passwords, _MeasuredQueue):
        telemetry.watch_hashing(passwords)
    return passwords


async def migrate(settings: Settings) -> None:
    """Apply the pending migrations, creating the database first if it is missing and
    ``postgres.create_database``; :class:`ConfigError` naming it if it is missing otherwise."""
    postgres = settings.postgres
    try:
        await prepare_database(
            postgres.dsn.get_secret_value(),
            connect_timeout=postgres.connect_timeout_seconds,
            create=postgres.create_database,
        )
    except DatabaseMissing as missing:
        raise ConfigError(
            f"{missing} (APP_POSTGRES__DSN): check the name, or create it,"
            " or set APP_POSTGRES__CREATE_DATABASE=true"
        ) from None


async def migrate_if_asked(settings: Settings) -> None:
    """:func:`migrate` when ``postgres.migrate_on_start``: a process's first step."""
    if settings.postgres.migrate_on_start:
        await migrate(settings)
