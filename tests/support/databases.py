"""Dropping a database the tests made (the service itself never drops one)."""

from __future__ import annotations

import asyncpg

from app.adapters.postgres.database import (
    database_name,
    quoted_identifier,
    with_database,
)


async def drop_database(dsn: str, connect_timeout: float = 5.0) -> None:
    """Drop the DSN's database, ending any connection still open to it."""
    name = database_name(dsn)
    connection = await asyncpg.connect(with_database(dsn, "postgres"), timeout=connect_timeout)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {quoted_identifier(name)} WITH (FORCE)")
    finally:
        await connection.close()
