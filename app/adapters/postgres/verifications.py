"""Verification tokens in PostgreSQL (``email_verifications``), by digest only.

A token and the message that carries it are written in one transaction
(:func:`insert_verification` on the caller's connection, as Register does in
``UserPgRepository.add``). Using a token locks its row and the user's row,
then applies its effect, its event and, for a change of address, the notice
to the old address, in one transaction: a change whose address was taken
meanwhile rolls back (``EmailTaken``) and leaves the token unused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import asyncpg

from app.adapters.postgres.errors import postgres_errors
from app.adapters.postgres.mail_outbox import insert_message
from app.adapters.postgres.outbox import insert_event
from app.adapters.postgres.user_rows import PRINCIPAL_COLUMNS, principal_from_row
from app.domain.errors import EmailTaken
from app.domain.events import Event
from app.domain.mail import Message
from app.domain.users import Principal
from app.domain.verification import InvalidVerificationToken, Verification, Verified
from app.observability.tracing import traced

# Only the newest token of a purpose is valid: issuing one ends the others.
_RETIRE = """
UPDATE email_verifications SET used_at = now()
WHERE user_id = $1 AND is_change = $2 AND used_at IS NULL
"""
_INSERT = """
INSERT INTO email_verifications
    (token_digest, user_id, email, email_canonical, is_change, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)
"""
_CLAIM = """
UPDATE email_verifications SET used_at = now()
WHERE token_digest = $1 AND used_at IS NULL AND expires_at > $2
RETURNING user_id, email, email_canonical, is_change
"""
_LOCK_USER = f"SELECT {PRINCIPAL_COLUMNS}, email_canonical FROM users WHERE id = $1 FOR UPDATE"
_VERIFY = f"""
UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1
RETURNING {PRINCIPAL_COLUMNS}
"""
_CHANGE = f"""
UPDATE users SET email = $2, email_canonical = $3, email_verified = true, updated_at = now()
WHERE id = $1 RETURNING {PRINCIPAL_COLUMNS}
"""


async def insert_verification(connection: asyncpg.Connection, verification: Verification) -> None:
    """Write ``verification`` and its message on ``connection`` (inside its transaction),
    retiring the user's older unused tokens of the same purpose."""
    await connection.execute(_RETIRE, verification.user_id, verification.is_change)
    await connection.execute(
        _INSERT,
        verification.digest,
        verification.user_id,
        verification.email,
        verification.account,
        verification.is_change,
        verification.expires_at,
    )
    await insert_message(connection, verification.message)


class VerificationPgRepository:
    """Satisfies ``VerificationRepository``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @traced
    async def issue(self, verification: Verification) -> None:
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                await insert_verification(connection, verification)

    @traced
    async def use(
        self,
        digest: str,
        now: datetime,
        *,
        verified: Callable[[UUID], Event],
        changed: Callable[[UUID, str, str], Event],
        notice: Callable[[Principal, str], Message],
    ) -> Verified:
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                token = await connection.fetchrow(_CLAIM, digest, now)
                if token is None:
                    raise InvalidVerificationToken()
                user_id = token["user_id"]
                current = await connection.fetchrow(_LOCK_USER, user_id)
                if current is None:
                    raise InvalidVerificationToken()
                previous = current["email"]
                if not token["is_change"]:
                    if current["email_canonical"] != token["email_canonical"]:
                        raise InvalidVerificationToken()  # the address changed since
                    row = await connection.fetchrow(_VERIFY, user_id)
                    await insert_event(connection, verified(user_id))
                    return Verified(principal_from_row(row), previous, changed=False)
                try:
                    row = await connection.fetchrow(
                        _CHANGE, user_id, token["email"], token["email_canonical"]
                    )
                except asyncpg.exceptions.UniqueViolationError as err:
                    raise EmailTaken() from err
                principal = principal_from_row(row)
                await insert_event(connection, changed(user_id, previous, token["email"]))
                await insert_message(connection, notice(principal, previous))
        return Verified(principal, previous, changed=True)
