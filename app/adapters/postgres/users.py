"""UserPgRepository: users in PostgreSQL through an asyncpg pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from app.adapters.postgres.erasure import erase_from_audit_log, erase_from_outbox
from app.adapters.postgres.errors import postgres_errors
from app.adapters.postgres.mail_outbox import insert_message
from app.adapters.postgres.outbox import insert_event
from app.adapters.postgres.user_imports import insert_imported
from app.adapters.postgres.user_rows import (
    PRINCIPAL_COLUMNS,
    USER_COLUMNS,
    principal_from_row,
    user_from_row,
)
from app.adapters.postgres.verifications import insert_verification
from app.domain.errors import EmailTaken, LastAdmin, PermissionDenied, UserNotFound
from app.domain.events import Event
from app.domain.importing import ImportedUser, Stored
from app.domain.mail import Message
from app.domain.profiles import ProfileChanges, ProfileField
from app.domain.users import (
    AccountKey,
    NewUser,
    Principal,
    Role,
    User,
    UserStatus,
    canonical_email,
)
from app.domain.verification import Verification
from app.observability.tracing import traced

# The rows an admin change decides on, locked in one statement in id order (so
# two changes never wait for each other in a cycle): the actor's and the
# target's, and with $3 every active admin's (two demotions at once cannot
# both see another admin). A row updated meanwhile is returned as committed.
_LOCK_DECIDING_ROWS = f"""
SELECT {PRINCIPAL_COLUMNS} FROM users
WHERE id = ANY($1::uuid[]) OR ($2 AND role = 'admin' AND status = 'active')
ORDER BY id FOR UPDATE
"""


class UserPgRepository:
    """Satisfies ``UserRepository``; email uniqueness is the database's job.

    Emails are compared in their canonical form (``canonical_email``), kept in
    ``email_canonical`` under a unique index beside the address as typed.

    Every change and the outbox row of its event are written in one
    transaction. The row's ``version`` is bumped by a trigger on every update.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @traced
    async def add(
        self,
        new_user: NewUser,
        registered: Event,
        *,
        actor: UUID | None,
        verification: Verification | None = None,
    ) -> User:
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                if actor is not None:
                    await self._decide(connection, None, actor, last_admin_check=False)
                try:
                    row = await connection.fetchrow(
                        f"""
                        INSERT INTO users
                            (id, email, email_canonical, first_name, last_name, password_hash,
                             role, avatar)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                        RETURNING {USER_COLUMNS}
                        """,
                        new_user.id,
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
                await insert_event(connection, registered)
                if verification is not None:
                    await insert_verification(connection, verification)
        return user_from_row(row)

    @traced
    async def get_by_id(self, user_id: UUID) -> User | None:
        with postgres_errors():
            row = await self._pool.fetchrow(
                f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id
            )
        return None if row is None else user_from_row(row)

    @traced
    async def get_by_email(self, account: AccountKey) -> User | None:
        with postgres_errors():
            row = await self._pool.fetchrow(
                f"SELECT {USER_COLUMNS} FROM users WHERE email_canonical = $1", account
            )
        return None if row is None else user_from_row(row)

    @traced
    async def get_with_password_hash(self, account: AccountKey) -> tuple[Principal, str] | None:
        with postgres_errors():
            row = await self._pool.fetchrow(
                f"SELECT {PRINCIPAL_COLUMNS}, password_hash FROM users WHERE email_canonical = $1",
                account,
            )
        return None if row is None else (principal_from_row(row), row["password_hash"])

    @traced
    async def update_password_hash(self, user_id: UUID, password_hash: str) -> None:
        with postgres_errors():
            await self._pool.execute(
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                user_id,
                password_hash,
            )

    @traced
    async def get_principal(self, user_id: UUID) -> Principal | None:
        with postgres_errors():
            row = await self._pool.fetchrow(
                f"SELECT {PRINCIPAL_COLUMNS} FROM users WHERE id = $1", user_id
            )
        return None if row is None else principal_from_row(row)

    @traced
    async def change_password(
        self, user_id: UUID, password_hash: str, changed: Event, notice: Message | None = None
    ) -> Principal:
        return await self._change(
            user_id,
            "password_hash = $2, sessions_epoch = sessions_epoch + 1",
            [password_hash],
            changed,
            last_admin_check=False,
            notice=notice,
        )

    @traced
    async def set_role(
        self, user_id: UUID, role: Role, changed: Event, *, actor: UUID | None
    ) -> Principal:
        return await self._change(
            user_id,
            "role = $2",
            [role.value],
            changed,
            unless="role = $2",
            last_admin_check=role is not Role.ADMIN,
            actor=actor,
        )

    @traced
    async def set_status(
        self, user_id: UUID, status: UserStatus, changed: Event, *, actor: UUID | None
    ) -> Principal:
        disabling = status is UserStatus.DISABLED
        epoch = ", sessions_epoch = sessions_epoch + 1" if disabling else ""
        return await self._change(
            user_id,
            f"status = $2{epoch}",
            [status.value],
            changed,
            unless="status = $2",
            last_admin_check=disabling,
            actor=actor,
        )

    @traced
    async def bump_sessions_epoch(self, user_id: UUID, *, actor: UUID | None) -> Principal:
        return await self._change(
            user_id,
            "sessions_epoch = sessions_epoch + 1",
            [],
            None,
            last_admin_check=False,
            actor=actor,
        )

    async def _change(
        self,
        user_id: UUID,
        assignments: str,
        arguments: list[Any],
        changed: Event | None,
        *,
        last_admin_check: bool,
        actor: UUID | None = None,
        unless: str | None = None,
        notice: Message | None = None,
    ) -> Principal:
        """Update the user's row (locked) and add ``changed`` to the outbox, in one transaction.

        ``unless``: a condition on the row under which nothing changes (no event).
        ``last_admin_check``: refuse when this would leave no active admin.
        ``actor``: refuse unless this user, as committed now, may administer.
        ``notice``: a message to queue with the change.
        """
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                if last_admin_check or actor is not None:
                    await self._decide(connection, user_id, actor, last_admin_check)
                select = f"SELECT {PRINCIPAL_COLUMNS} FROM users WHERE id = $1"
                if unless is not None:
                    current = await connection.fetchrow(
                        f"{select} AND {unless} FOR UPDATE", user_id, *arguments
                    )
                    if current is not None:
                        return principal_from_row(current)
                row = await connection.fetchrow(
                    f"UPDATE users SET {assignments}, updated_at = now() WHERE id = $1"
                    f" RETURNING {PRINCIPAL_COLUMNS}",
                    user_id,
                    *arguments,
                )
                if row is None:
                    raise UserNotFound()
                if changed is not None:
                    await insert_event(connection, changed)
                if notice is not None:
                    await insert_message(connection, notice)
        return principal_from_row(row)

    @staticmethod
    async def _decide(
        connection: asyncpg.Connection,
        user_id: UUID | None,
        actor: UUID | None,
        last_admin_check: bool,
    ) -> None:
        """Lock the rows the change depends on, then apply the domain's rules to them.

        ``user_id`` is None for a user not stored yet (a registration).
        """
        ids = [id_ for id_ in (user_id, actor) if id_ is not None]
        rows = await connection.fetch(_LOCK_DECIDING_ROWS, ids, last_admin_check)
        principals = {row["id"]: principal_from_row(row) for row in rows}
        if actor is not None and not (actor in principals and principals[actor].may_administer):
            raise PermissionDenied("an admin's session is required")
        admins = [id_ for id_, principal in principals.items() if principal.may_administer]
        if last_admin_check and admins == [user_id]:
            raise LastAdmin()

    @traced
    async def update_profile(
        self,
        user_id: UUID,
        changes: ProfileChanges,
        changed: Callable[[frozenset[ProfileField]], Event],
        *,
        actor: UUID | None,
    ) -> Principal:
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                if actor is not None:
                    await self._decide(connection, user_id, actor, last_admin_check=False)
                current = await connection.fetchrow(
                    f"SELECT {PRINCIPAL_COLUMNS} FROM users WHERE id = $1 FOR UPDATE", user_id
                )
                if current is None:
                    raise UserNotFound()
                before = principal_from_row(current)
                fields = changes.changed_from(before.user)
                if not fields:
                    return before
                after = changes.applied_to(before.user)
                row = await connection.fetchrow(
                    "UPDATE users SET first_name = $2, last_name = $3, avatar = $4,"
                    f" updated_at = now() WHERE id = $1 RETURNING {PRINCIPAL_COLUMNS}",
                    user_id,
                    after.first_name,
                    after.last_name,
                    after.avatar,
                )
                await insert_event(connection, changed(fields))
        return principal_from_row(row)

    @traced
    async def delete(self, user_id: UUID, deleted: Event, *, actor: UUID | None) -> Principal:
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                await self._decide(connection, user_id, actor, last_admin_check=True)
                row = await connection.fetchrow(
                    f"DELETE FROM users WHERE id = $1 RETURNING {PRINCIPAL_COLUMNS}", user_id
                )
                if row is None:
                    raise UserNotFound()
                await erase_from_outbox(connection, user_id)
                await erase_from_audit_log(connection, [user_id])
                await insert_event(connection, deleted)
        return principal_from_row(row)

    async def add_imported(self, users: Sequence[ImportedUser], *, dry_run: bool) -> list[Stored]:
        with postgres_errors():
            async with self._pool.acquire() as connection:
                return await insert_imported(connection, users, dry_run=dry_run)
