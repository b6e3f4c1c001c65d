"""ListUsers is served by indexes: the adapter's own statements, explained at 30,000 users.

A throwaway database (migrated as the service migrates) is filled with
generate_series, with a few admins, service callers and disabled users
among ordinary ones, and ANALYZEd. Each filter's statement, exactly as
``listing_query`` builds it, is explained both as a plan made for its values
and as the generic plan PostgreSQL may switch a prepared statement to.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from app.adapters.postgres.database import prepare_database
from app.adapters.postgres.user_directory import listing_query
from app.domain.listing import PageCursor, UserFilter
from app.domain.users import Role, UserStatus
from tests.support.databases import drop_database

USERS = 30_000
# Every 1000th user an admin, every 1500th a service caller, every 700th disabled.
FILL = f"""
INSERT INTO users (email, email_canonical, first_name, last_name, password_hash, role, status,
                   created_at)
SELECT 'user' || n || '@example.com', 'user' || n || '@example.com', 'A', 'B', 'h',
       CASE WHEN n % 1000 = 0 THEN 'admin' WHEN n % 1500 = 0 THEN 'service' ELSE 'user' END,
       CASE WHEN n % 700 = 0 THEN 'disabled' ELSE 'active' END,
       timestamptz '2026-01-01' + n * interval '1 minute'
FROM generate_series(1, {USERS}) AS n
"""
MIDDLE = datetime(2026, 1, 11, tzinfo=UTC)
CURSOR = PageCursor(MIDDLE, uuid.UUID(int=0))

FILTERS = {
    "everyone": UserFilter(),
    "email prefix": UserFilter(email_prefix="user123"),
    "role admin": UserFilter(role=Role.ADMIN),
    "role service": UserFilter(role=Role.SERVICE),
    "role user": UserFilter(role=Role.USER),
    "disabled": UserFilter(status=UserStatus.DISABLED),
    "active": UserFilter(status=UserStatus.ACTIVE),
    "created range": UserFilter(
        created_from=MIDDLE, created_before=datetime(2026, 1, 12, tzinfo=UTC)
    ),
    "everything at once": UserFilter(
        email_prefix="user2",
        role=Role.USER,
        status=UserStatus.ACTIVE,
        created_from=datetime(2026, 1, 2, tzinfo=UTC),
        created_before=datetime(2026, 1, 20, tzinfo=UTC),
    ),
}


@pytest.fixture(scope="module")
async def filled(settings) -> AsyncIterator[asyncpg.Connection]:
    run_dsn = urlsplit(settings.postgres.dsn.get_secret_value())
    dsn = urlunsplit(run_dsn._replace(path=f"{run_dsn.path}_plans"))
    await prepare_database(dsn, create=True)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(FILL)
        await connection.execute("ANALYZE users")
        yield connection
    finally:
        await connection.close()
        await drop_database(dsn)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def _plan(
    connection: asyncpg.Connection, statement: str, arguments: list[Any]
) -> list[dict[str, Any]]:
    explained = await connection.fetchval(f"EXPLAIN (FORMAT JSON) {statement}", *arguments)
    return list(_nodes(json.loads(explained)[0]["Plan"]))


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("after", [None, CURSOR], ids=["first page", "later page"])
@pytest.mark.parametrize("name", list(FILTERS))
async def test_every_filter_is_served_by_an_index(filled, name, after, plan_cache_mode):
    assert await filled.fetchval("SELECT count(*) FROM users") == USERS
    statement, arguments = listing_query(FILTERS[name], after, 51)
    async with filled.transaction():
        await filled.execute(f"SET LOCAL plan_cache_mode = {plan_cache_mode}")
        nodes = await _plan(filled, statement, arguments)
    scans = [node for node in nodes if node.get("Relation Name") == "users"]
    assert scans, nodes
    assert all(node["Node Type"] != "Seq Scan" for node in scans), json.dumps(nodes, indent=1)
    assert any("Index" in node["Node Type"] for node in scans)


async def test_without_the_indexes_the_same_statement_scans_the_table(filled):
    # The check above can fail: with the migration's indexes dropped (and the drop
    # rolled back after), the statement for disabled users reads the whole table.
    statement, arguments = listing_query(FILTERS["disabled"], None, 51)
    transaction = filled.transaction()
    await transaction.start()
    try:
        for index in ("users_by_created", "users_by_status_created"):
            await filled.execute(f"DROP INDEX {index}")
        nodes = await _plan(filled, statement, arguments)
    finally:
        await transaction.rollback()
    scans = [node["Node Type"] for node in nodes if node.get("Relation Name") == "users"]
    assert scans == ["Seq Scan"]
