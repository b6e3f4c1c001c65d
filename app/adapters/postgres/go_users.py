"""The Go service's ``users`` table, read as a ``UserSource``.

Its schema (the Go service's ``migrations/01_create_initial_tables.up.sql``):
``user_id`` uuid, ``first_name``, ``last_name``, ``email``, ``password`` (a
bcrypt hash), ``role`` (an enum, ``admin`` or ``user``), ``avatar`` (null
or text), ``created_at`` and ``updated_at`` (null or a time). It is read in
pages of ``(created_at, user_id)`` order, each its own short query, so a long
import holds no transaction open on the old database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.domain.importing import Refused, SourceUser

_FIRST_PAGE = """
SELECT user_id, email, first_name, last_name, password, role::text AS role, avatar,
       created_at, updated_at
FROM users ORDER BY created_at, user_id LIMIT $1
"""
_NEXT_PAGE = """
SELECT user_id, email, first_name, last_name, password, role::text AS role, avatar,
       created_at, updated_at
FROM users WHERE (created_at, user_id) > ($2, $3) ORDER BY created_at, user_id LIMIT $1
"""


def _user(row: Any) -> SourceUser:
    return SourceUser(
        reference=f"user {row['user_id']}",
        id=row["user_id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        password_hash=row["password"],
        role=row["role"],
        avatar=row["avatar"],
        created_at=row["created_at"],
        updated_at=row["updated_at"] or row["created_at"],
    )


class GoUserTable:
    """Satisfies ``UserSource`` over a connection to the Go service's database."""

    def __init__(self, connection: asyncpg.Connection, *, batch_size: int) -> None:
        self._connection = connection
        self._batch_size = batch_size

    async def count(self) -> int | None:
        return int(await self._connection.fetchval("SELECT count(*) FROM users"))

    async def batches(self) -> AsyncIterator[list[SourceUser | Refused]]:
        after: tuple[datetime, UUID] | None = None
        while True:
            if after is None:
                rows = await self._connection.fetch(_FIRST_PAGE, self._batch_size)
            else:
                rows = await self._connection.fetch(_NEXT_PAGE, self._batch_size, *after)
            if not rows:
                return
            yield [_user(row) for row in rows]
            after = (rows[-1]["created_at"], rows[-1]["user_id"])
