"""The users table's batched, idempotent insert of imported users (``UserImports``)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from app.domain.importing import ImportedUser, ImportOutcome, Stored

# One statement: insert what takes no id and no canonical email already here
# (or earlier in the batch), then say for each row what became of it. The
# joins read the table as it was before the insert (one snapshot), so a row
# neither inserted nor matched lost to a row committed meanwhile.
_INSERT_IMPORTED = """
WITH incoming AS (
    SELECT * FROM unnest(
        $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::timestamptz[], $10::timestamptz[]
    ) WITH ORDINALITY AS t(id, email, email_canonical, first_name, last_name,
                           password_hash, role, avatar, created_at, updated_at, position)
),
inserted AS (
    INSERT INTO users (id, email, email_canonical, first_name, last_name, password_hash,
                       role, avatar, created_at, updated_at)
    SELECT id, email, email_canonical, first_name, last_name, password_hash,
           role, avatar, created_at, updated_at
    FROM incoming ORDER BY position
    ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT incoming.id IN (SELECT id FROM inserted) AS inserted,
       by_id.email_canonical AS email_of_id,
       by_email.id AS owner_of_email
FROM incoming
LEFT JOIN users AS by_id ON by_id.id = incoming.id
LEFT JOIN users AS by_email ON by_email.email_canonical = incoming.email_canonical
ORDER BY incoming.position
"""


def _arguments(users: Sequence[ImportedUser]) -> list[list[object]]:
    return [
        [user.id for user in users],
        [user.email for user in users],
        [user.canonical_email for user in users],
        [user.first_name for user in users],
        [user.last_name for user in users],
        [user.password_hash for user in users],
        [user.role.value for user in users],
        [user.avatar for user in users],
        [user.created_at for user in users],
        [user.updated_at for user in users],
    ]


def _stored(user: ImportedUser, row: asyncpg.Record) -> Stored:
    if row["inserted"]:
        return Stored(ImportOutcome.IMPORTED)
    if row["email_of_id"] is not None:
        if row["email_of_id"] == user.canonical_email:
            return Stored(ImportOutcome.PRESENT)
        return Stored(ImportOutcome.ID_TAKEN)
    if row["owner_of_email"] is not None:
        return Stored(ImportOutcome.EMAIL_TAKEN, row["owner_of_email"])
    return Stored(ImportOutcome.RACED)


async def insert_imported(
    connection: asyncpg.Connection, users: Sequence[ImportedUser], *, dry_run: bool
) -> list[Stored]:
    """Insert ``users`` in one transaction (rolled back when ``dry_run``); each one's outcome."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        rows = await connection.fetch(_INSERT_IMPORTED, *_arguments(users))
    except BaseException:
        await transaction.rollback()
        raise
    if dry_run:
        await transaction.rollback()
    else:
        await transaction.commit()
    return [_stored(user, row) for user, row in zip(users, rows, strict=True)]
