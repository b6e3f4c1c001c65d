"""Migrations: applied by start-up, idempotent, never dropping data."""

from __future__ import annotations

from app.adapters.postgres.database import apply_migrations
from tests.client import register


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


async def test_email_uniqueness_is_a_case_insensitive_index(application):
    definition = await application.pool.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'users_email_lower_key'"
    )
    assert "UNIQUE" in definition
    assert "lower(email)" in definition
