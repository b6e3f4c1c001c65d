"""The database's life: create it if asked and missing, migrate it, open and close the pool."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog
from yoyo import get_backend, read_migrations

logger = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"


def with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def quoted_identifier(name: str) -> str:
    """``name`` as a PostgreSQL identifier (DDL takes no parameters)."""
    return '"' + name.replace('"', '""') + '"'


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


class DatabaseMissing(LookupError):
    """The DSN names a database that does not exist, and nobody asked to create it."""

    def __init__(self, database: str) -> None:
        super().__init__(f"database {database!r} does not exist")
        self.database = database


async def require_database(dsn: str, connect_timeout: float = 5.0) -> None:
    """Raise :class:`DatabaseMissing` when the DSN's database does not exist.

    It connects to that database itself, so it needs no rights on any other.
    """
    try:
        connection = await asyncpg.connect(dsn, timeout=connect_timeout)
    except asyncpg.exceptions.InvalidCatalogNameError:
        raise DatabaseMissing(database_name(dsn)) from None
    await connection.close()


async def ensure_database(dsn: str, connect_timeout: float = 5.0) -> bool:
    """Create the DSN's database when it does not exist; True if it was created."""
    name = database_name(dsn)
    connection = await asyncpg.connect(with_database(dsn, "postgres"), timeout=connect_timeout)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await connection.execute(f"CREATE DATABASE {quoted_identifier(name)}")
        except asyncpg.exceptions.DuplicateDatabaseError:
            return False
        logger.info("database created", database=name)
        return True
    finally:
        await connection.close()


def _apply_migrations_sync(dsn: str) -> int:
    scheme, rest = dsn.split("://", 1)
    backend = get_backend(f"postgresql+psycopg://{rest}" if scheme.startswith("postgres") else dsn)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    backend.connection.close()
    return len(pending)


async def apply_migrations(dsn: str) -> int:
    """Apply pending migrations (yoyo, under its lock); the number applied."""
    applied = await asyncio.to_thread(_apply_migrations_sync, dsn)
    logger.info("migrations applied", count=applied)
    return applied


async def prepare_database(dsn: str, connect_timeout: float = 5.0, *, create: bool) -> None:
    """Apply pending migrations to the DSN's database, creating it first if it is
    missing and ``create``; :class:`DatabaseMissing` if it is missing otherwise."""
    if create:
        await ensure_database(dsn, connect_timeout=connect_timeout)
    else:
        await require_database(dsn, connect_timeout=connect_timeout)
    await apply_migrations(dsn)


async def create_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    command_timeout: float,
    connect_timeout: float,
    init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """An asyncpg pool whose every query is bounded by ``command_timeout``.

    ``init`` runs once on each new connection (the metrics hook its queries).
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        timeout=connect_timeout,
        init=init,
    )
    assert pool is not None
    return pool
