"""PasswordResetPgRepository: reset tokens (by digest) in ``password_resets``.

A token is bound to the password it may replace by ``password_fingerprint``,
the SHA-256 of the user's password hash when it was issued: every check
compares it with the hash as it is now, so a password changed by any path
(ChangePassword, another reset, an admin tool) leaves the token dead without
that path knowing of tokens. A deleted user's token goes with the row
(``ON DELETE CASCADE``).
"""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

import asyncpg

from app.adapters.postgres.errors import postgres_errors
from app.adapters.postgres.event_rows import event_values
from app.adapters.postgres.mail_outbox import insert_message
from app.adapters.postgres.outbox import insert_event
from app.adapters.postgres.user_rows import PRINCIPAL_COLUMNS, principal_from_row
from app.domain.events import Event
from app.domain.mail import Message
from app.domain.recovery import ResetGrant
from app.domain.users import AccountKey, Principal
from app.observability.trace_context import stamped
from app.observability.tracing import traced

_FINGERPRINT = "sha256(convert_to(users.password_hash, 'UTF8'))"

# One statement, so that a request for an unknown or disabled address (whose
# id matches no active user) makes exactly the same round trip as one that
# stores: the token (replacing the user's earlier one), its message and its
# event, all or nothing. ``pg_current_xact_id()`` gives every such statement a
# transaction id, so each commits with a WAL flush: without it a request that
# stores nothing would skip the flush and answer measurably sooner.
_ISSUE = f"""
WITH target AS (
    SELECT id, {_FINGERPRINT} AS fingerprint FROM users
    WHERE id = $1 AND status = 'active' FOR UPDATE
), grant_row AS (
    INSERT INTO password_resets
        (user_id, token_digest, password_fingerprint, created_at, expires_at)
    SELECT id, $2, fingerprint, $3, $4 FROM target
    ON CONFLICT (user_id) DO UPDATE SET
        token_digest = EXCLUDED.token_digest,
        password_fingerprint = EXCLUDED.password_fingerprint,
        created_at = EXCLUDED.created_at,
        expires_at = EXCLUDED.expires_at
    RETURNING user_id
), message_row AS (
    INSERT INTO mail_outbox (message_id, kind, recipient, template_values, token)
    SELECT $5, $6, $7, $8::jsonb, $9 FROM target
), event_row AS (
    INSERT INTO event_outbox (event_id, event_type, occurred_at, user_id, data, traceparent)
    SELECT $10, $11, $12, $13, $14::jsonb, $15 FROM target
)
SELECT (SELECT count(*) FROM grant_row) AS stored, pg_current_xact_id() AS xid
"""  # noqa: S608 - only the module's constant expression is interpolated

# A valid token at $2 and its user: not expired, issued against the current password.
_VALID = f"""
users.id = password_resets.user_id
AND password_resets.token_digest = $1 AND password_resets.expires_at > $2
AND password_resets.password_fingerprint = {_FINGERPRINT}
AND users.status = 'active'
"""

_HOLDER_OF = f"""
SELECT {", ".join(f"users.{column.strip()}" for column in PRINCIPAL_COLUMNS.split(","))}
FROM password_resets, users WHERE {_VALID}
"""  # noqa: S608

_SPEND = f"""
DELETE FROM password_resets USING users WHERE {_VALID} AND password_resets.user_id = $3
RETURNING password_resets.user_id
"""  # noqa: S608

_HOLDER = f"SELECT {PRINCIPAL_COLUMNS} FROM users WHERE email_canonical = $1"  # noqa: S608

_RESET = f"""
UPDATE users SET password_hash = $2, sessions_epoch = sessions_epoch + 1,
    email_verified = true, updated_at = now()
WHERE id = $1 RETURNING {PRINCIPAL_COLUMNS}
"""  # noqa: S608


class PasswordResetPgRepository:
    """Satisfies ``PasswordResets``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @traced
    async def holder(self, account: AccountKey) -> Principal | None:
        with postgres_errors():
            row = await self._pool.fetchrow(_HOLDER, account)
        return None if row is None else principal_from_row(row)

    @traced
    async def issue(self, grant: ResetGrant, message: Message, requested: Event) -> bool:
        message_values = (
            message.id,
            message.kind.value,
            message.recipient,
            json.dumps(dict(message.values)),
            message.token,
        )
        with postgres_errors():
            row = await self._pool.fetchrow(
                _ISSUE,
                grant.user_id,
                grant.digest,
                grant.created_at,
                grant.expires_at,
                *message_values,
                *event_values(stamped(requested)),
            )
        return bool(row["stored"])

    @traced
    async def holder_of(self, digest: bytes, now: datetime) -> Principal | None:
        with postgres_errors():
            row = await self._pool.fetchrow(_HOLDER_OF, digest, now)
        return None if row is None else principal_from_row(row)

    @traced
    async def redeem(
        self,
        digest: bytes,
        now: datetime,
        user_id: UUID,
        password_hash: str,
        reset: Event,
        notice: Message,
    ) -> Principal | None:
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                # The user's row first: a password change racing this one waits, and
                # the fingerprint below is compared with the hash as committed.
                await connection.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
                spent = await connection.fetchval(_SPEND, digest, now, user_id)
                if spent is None:
                    return None
                row = await connection.fetchrow(_RESET, user_id, password_hash)
                await insert_event(connection, reset)
                await insert_message(connection, notice)
        return principal_from_row(row)
