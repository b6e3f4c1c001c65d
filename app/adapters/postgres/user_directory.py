"""UserDirectoryPg: users in listing order, one keyset page at a time.

Each page is one ``SELECT … ORDER BY created_at, id LIMIT n`` holding only
the conditions its filter needs, with every value a parameter. Each filter
has an index (migrations/0008): ``(created_at, id)`` for the order and the
creation range, ``(role, created_at, id)`` and ``(status, created_at, id)``
for the rare values of those, and ``email_canonical text_pattern_ops`` for
the prefix. The prefix is a range of ``text_pattern_ops`` operators rather
than ``LIKE``: ``LIKE $1`` can use the index only in a plan made for one
value, and PostgreSQL may switch a prepared statement to a generic plan;
the range is indexable in both (tests/integration/test_listing_plans.py).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from app.adapters.postgres.errors import postgres_errors
from app.adapters.postgres.user_rows import USER_COLUMNS, user_from_row
from app.domain.listing import ListedUser, PageCursor, UserFilter
from app.domain.users import UserStatus
from app.observability.tracing import traced

_HIGHEST_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def prefix_upper_bound(prefix: str) -> str | None:
    """The least text above every text that starts with ``prefix``, in code point order
    (the byte order of UTF-8, which ``text_pattern_ops`` compares); None if none is."""
    characters = list(prefix)
    while characters:
        following = ord(characters.pop()) + 1
        if following in _SURROGATES:
            following = _SURROGATES.stop
        if following <= _HIGHEST_CODE_POINT:
            return "".join(characters) + chr(following)
    return None


def listing_query(
    user_filter: UserFilter, after: PageCursor | None, limit: int
) -> tuple[str, list[Any]]:
    """The statement and arguments of one page (see the module's docstring)."""
    arguments: list[Any] = []

    def parameter(value: Any) -> str:
        arguments.append(value)
        return f"${len(arguments)}"

    conditions: list[str] = []
    prefix = user_filter.email_prefix
    if prefix is not None:
        conditions.append(f"email_canonical ~>=~ {parameter(prefix)}")
        upper = prefix_upper_bound(prefix)
        if upper is not None:
            conditions.append(f"email_canonical ~<~ {parameter(upper)}")
    if user_filter.role is not None:
        conditions.append(f"role = {parameter(user_filter.role.value)}")
    if user_filter.status is not None:
        conditions.append(f"status = {parameter(user_filter.status.value)}")
    if user_filter.created_from is not None:
        conditions.append(f"created_at >= {parameter(user_filter.created_from)}")
    if user_filter.created_before is not None:
        conditions.append(f"created_at < {parameter(user_filter.created_before)}")
    if after is not None:
        position = f"({parameter(after.created_at)}, {parameter(after.user_id)})"
        conditions.append(f"(created_at, id) > {position}")
    where = " AND ".join(conditions) or "true"
    # Only the fixed fragments above make up the text; every value is a parameter.
    statement = (
        f"SELECT {USER_COLUMNS}, status FROM users WHERE {where}"  # noqa: S608
        f" ORDER BY created_at, id LIMIT {parameter(limit)}"
    )
    return statement, arguments


class UserDirectoryPg:
    """Satisfies ``UserDirectory``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @traced
    async def list_users(
        self, user_filter: UserFilter, after: PageCursor | None, limit: int
    ) -> list[ListedUser]:
        statement, arguments = listing_query(user_filter, after, limit)
        with postgres_errors():
            rows = await self._pool.fetch(statement, *arguments)
        return [ListedUser(user_from_row(row), UserStatus(row["status"])) for row in rows]
