"""Migrations: applied by start-up, idempotent, never dropping data."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from yoyo import get_backend, read_migrations

from app.adapters.postgres.database import (
    MIGRATIONS_DIR,
    apply_migrations,
    ensure_database,
)
from app.domain.users import canonical_email
from tests.support.client import register
from tests.support.databases import drop_database

CANONICAL_MIGRATION_ID = "0004.users-canonical-email"


def _migration_module(migration_id: str) -> Any:
    """The module of a Python migration, as yoyo loads it."""
    [migration] = [m for m in read_migrations(str(MIGRATIONS_DIR)) if m.id == migration_id]
    if not migration.loaded:
        migration.load()
    return migration.module


CANONICAL_MIGRATION = _migration_module(CANONICAL_MIGRATION_ID)


async def test_applying_migrations_again_is_a_no_op_that_keeps_users(stub, application, settings):
    await register(stub)
    users_before = await application.pool.fetchval("SELECT count(*) FROM users")
    applied_before = await application.pool.fetchval("SELECT count(*) FROM _yoyo_migration")
    assert await apply_migrations(settings.postgres.dsn.get_secret_value()) == 0
    assert await apply_migrations(settings.postgres.dsn.get_secret_value()) == 0
    assert await application.pool.fetchval("SELECT count(*) FROM users") == users_before
    assert await application.pool.fetchval("SELECT count(*) FROM _yoyo_migration") == (
        applied_before
    )
    assert users_before >= 1


async def test_email_uniqueness_is_an_index_on_the_canonical_form(application):
    definition = await application.pool.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'users_email_canonical_key'"
    )
    assert "UNIQUE" in definition
    assert "(email_canonical)" in definition


@given(st.text())
@hypothesis_settings(max_examples=300)
def test_the_migration_computes_the_canonical_form_as_the_service_does(text):
    assert CANONICAL_MIGRATION.canonical_email(text) == canonical_email(text)


def _migrate(dsn: str, *, up_to: str | None = None, rollback: str | None = None) -> None:
    backend = get_backend(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        if rollback is not None:
            chosen = migrations.filter(lambda migration: migration.id == rollback)
            backend.rollback_migrations(backend.to_rollback(chosen))
        else:
            chosen = migrations.filter(lambda migration: up_to is None or migration.id < up_to)
            backend.apply_migrations(backend.to_apply(chosen))
    backend.connection.close()


async def test_the_canonical_form_of_existing_users_is_filled_in_and_rolled_back(settings):
    run_dsn = urlsplit(settings.postgres.dsn.get_secret_value())
    dsn = urlunsplit(run_dsn._replace(path=f"{run_dsn.path}_canonical"))
    await ensure_database(dsn)
    try:
        await asyncio.to_thread(_migrate, dsn, up_to=CANONICAL_MIGRATION_ID)
        connection = await asyncpg.connect(dsn)
        try:
            insert = (
                "INSERT INTO users (email, first_name, last_name, password_hash)"
                " VALUES ($1, 'A', 'B', 'h')"
            )
            await connection.execute(insert, "stra\u00dfe@example.com")
            await connection.execute(insert, "\uff4bate@example.com")
            await asyncio.to_thread(_migrate, dsn)
            rows = await connection.fetch("SELECT email_canonical FROM users ORDER BY email")
            assert [row["email_canonical"] for row in rows] == [
                "strasse@example.com",
                "kate@example.com",
            ]
            with pytest.raises(asyncpg.exceptions.UniqueViolationError):
                await connection.execute(
                    "INSERT INTO users (email, email_canonical, first_name, last_name,"
                    " password_hash) VALUES ('kate@example.com', 'kate@example.com', 'A', 'B', 'h')"
                )
            await asyncio.to_thread(_migrate, dsn, rollback=CANONICAL_MIGRATION_ID)
            columns = await connection.fetchval(
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_name = 'users' AND column_name = 'email_canonical'"
            )
            assert columns == 0
            assert (
                await connection.fetchval(
                    "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email_lower_key'"
                )
                == 1
            )
        finally:
            await connection.close()
    finally:
        await drop_database(dsn)
