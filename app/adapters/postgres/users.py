"""UserPgRepository: users in PostgreSQL through an asyncpg pool."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from app.adapters.postgres.errors import postgres_errors
from app.adapters.postgres.outbox import insert_event
from app.domain.errors import EmailTaken
from app.domain.events import Event
from app.domain.users import NewUser, Role, User, canonical_email
from app.observability.tracing import traced

_COLUMNS = "id, email, first_name, last_name, role, avatar, created_at, updated_at"


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        role=Role(row["role"]),
        avatar=row["avatar"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class UserPgRepository:
    """Satisfies ``UserRepository``; email uniqueness is the database's job.

    Emails are compared in their canonical form (``canonical_email``), kept in
    ``email_canonical`` under a unique index beside the address as typed.

    A registration's user row and its ``user.registered`` outbox row are
    written in one transaction.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @traced
    async def add(self, new_user: NewUser, registered: Event) -> User:
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                try:
                    row = await connection.fetchrow(
                        f"""
                        INSERT INTO users
                            (email, email_canonical, first_name, last_name, password_hash,
                             role, avatar)
                        VALUES ($1, $2, $3, $4, $5, $6, $7)
                        RETURNING {_COLUMNS}
                        """,
                        new_user.email,
                        canonical_email(new_user.email),
                        new_user.first_name,
                        new_user.last_name,
                        new_user.password_hash,
                        new_user.role.value,
                        new_user.avatar,
                    )
                except asyncpg.exceptions.UniqueViolationError as err:
                    raise EmailTaken() from err
                await insert_event(connection, registered.about(row["id"]))
        return _user(row)

    @traced
    async def get_by_id(self, user_id: UUID) -> User | None:
        with postgres_errors():
            row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)
        return None if row is None else _user(row)

    @traced
    async def get_by_email(self, email: str) -> User | None:
        with postgres_errors():
            row = await self._pool.fetchrow(
                f"SELECT {_COLUMNS} FROM users WHERE email_canonical = $1", canonical_email(email)
            )
        return None if row is None else _user(row)

    @traced
    async def get_with_password_hash(self, email: str) -> tuple[User, str] | None:
        with postgres_errors():
            row = await self._pool.fetchrow(
                f"SELECT {_COLUMNS}, password_hash FROM users WHERE email_canonical = $1",
                canonical_email(email),
            )
        return None if row is None else (_user(row), row["password_hash"])

    @traced
    async def update_password_hash(self, user_id: UUID, password_hash: str) -> None:
        with postgres_errors():
            await self._pool.execute(
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                user_id,
                password_hash,
            )
