"""A database of the Go service's own shape, for import tests, and users in it as it made them.

Each :func:`go_database` is a new database on the configured PostgreSQL
server (``go_service_<random>``), made with ``go_service_schema.sql`` and
dropped when the block ends.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import bcrypt
from redis.asyncio import Redis

from app.adapters.postgres.database import quoted_identifier, with_database
from app.config import Settings
from tests.support.client import PASSWORD, unique_email
from tests.support.databases import drop_database

SCHEMA = Path(__file__).with_name("go_service_schema.sql")
# The Go service's bcrypt.DefaultCost; tests use the least cost unless they
# are about this one.
GO_COST = 10
CHEAP_COST = 4


def go_hash(password: str, cost: int = CHEAP_COST) -> str:
    """As the Go service stored a password: bcrypt (``$2a$``) of the trimmed password."""
    salt = bcrypt.gensalt(cost, prefix=b"2a")
    return bcrypt.hashpw(password.strip().encode(), salt).decode()


@dataclass
class GoUser:
    """A row of the Go service's users table; ``password`` is what its owner typed."""

    email: str = field(default_factory=lambda: unique_email("go"))
    first_name: str = "Grace"
    last_name: str = "Hopper"
    password: str = PASSWORD
    role: str = "user"
    avatar: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC))
    updated_at: datetime | None = None
    user_id: uuid.UUID = field(default_factory=uuid.uuid4)
    password_hash: str | None = None  # made from ``password`` (cost 4) when None


@contextlib.asynccontextmanager
async def go_database(settings: Settings) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """A fresh database with the Go service's schema: its DSN and a connection to it."""
    base = settings.postgres.dsn.get_secret_value()
    name = f"go_service_{uuid.uuid4().hex[:12]}"
    dsn = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    admin = await asyncpg.connect(with_database(base, "postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {quoted_identifier(name)}")
    finally:
        await admin.close()
    try:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(SCHEMA.read_text())
            yield dsn, connection
        finally:
            await connection.close()
    finally:
        await drop_database(dsn)


async def insert_go_users(connection: asyncpg.Connection, *users: GoUser) -> None:
    """Insert ``users`` as the Go service's Register would have stored them."""
    await connection.executemany(
        "INSERT INTO users (user_id, first_name, last_name, email, password, role, avatar,"
        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6::role, $7, $8, $9)",
        [
            (
                user.user_id,
                user.first_name,
                user.last_name,
                user.email,
                user.password_hash or go_hash(user.password),
                user.role,
                user.avatar,
                user.created_at,
                user.updated_at,
            )
            for user in users
        ],
    )


def in_order(count: int, **fields: object) -> list[GoUser]:
    """``count`` users created a minute apart, so the Go table's order is theirs."""
    start = datetime(2022, 1, 1, tzinfo=UTC)
    return [
        GoUser(created_at=start + timedelta(minutes=index), **fields)  # type: ignore[arg-type]
        for index in range(count)
    ]


async def add_go_session(redis: Redis, user_id: uuid.UUID, *, ttl_seconds: int = 3600) -> str:
    """A live session as the Go service stores it; its id."""
    session_id = str(uuid.uuid4())
    value = json.dumps({"session_id": session_id, "user_id": str(user_id)})
    await redis.set(f"sessions:: {session_id}", value, ex=ttl_seconds)
    return session_id
