"""FactorPgRepository: users' second factors and recovery codes in PostgreSQL.

Recovery codes are stored as HMAC-SHA256 digests under a key the service
keeps in ``service_secrets`` (made on first use). A keyed fast hash suffices:
each code carries 79 random bits (16 signs of 31), so no dictionary or brute force applies,
which is what a slow hash (argon2) defends; and a deterministic digest is
found by equality in one indexed statement, where a salted slow hash would
cost one argon2 run per stored code on every attempt. The key keeps a copy of
the table alone (a replica, a dump of one table) from confirming any guess.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.postgres.errors import postgres_errors
from app.adapters.postgres.mail_outbox import insert_message
from app.adapters.postgres.outbox import insert_event
from app.adapters.postgres.service_secrets import stored_secret
from app.domain.events import Event
from app.domain.mail import Message
from app.domain.second_factor import FactorAlreadyActive, RecoveryCode
from app.domain.second_factor_ports import SealedSecret, StoredFactor
from app.observability.tracing import traced

RECOVERY_KEY_NAME = "recovery-codes"

_PUT_PENDING = """
INSERT INTO user_mfa (user_id, key_id, secret_ciphertext) VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE
    SET key_id = EXCLUDED.key_id, secret_ciphertext = EXCLUDED.secret_ciphertext,
        last_step = NULL, created_at = now()
    WHERE NOT user_mfa.active
RETURNING user_id
"""


def _stored(row: Any) -> StoredFactor:
    return StoredFactor(
        sealed=SealedSecret(row["key_id"], bytes(row["secret_ciphertext"])),
        active=row["active"],
        last_step=row["last_step"],
    )


class FactorPgRepository:
    """Satisfies ``FactorRepository``."""

    def __init__(self, pool: BoundedPool) -> None:
        self._pool = pool
        self._recovery_key: bytes | None = None

    async def _digests(self, codes: Sequence[str]) -> list[bytes]:
        if self._recovery_key is None:
            # Racing first calls read the same stored secret: harmless.
            self._recovery_key = await stored_secret(self._pool, RECOVERY_KEY_NAME)
        key = self._recovery_key
        return [hmac.new(key, code.encode(), hashlib.sha256).digest() for code in codes]

    @traced
    async def get(self, user_id: UUID) -> StoredFactor | None:
        with postgres_errors():
            row = await self._pool.fetchrow(
                "SELECT key_id, secret_ciphertext, active, last_step FROM user_mfa"
                " WHERE user_id = $1",
                user_id,
            )
        return None if row is None else _stored(row)

    @traced
    async def is_active(self, user_id: UUID) -> bool:
        with postgres_errors():
            found = await self._pool.fetchval(
                "SELECT active FROM user_mfa WHERE user_id = $1", user_id
            )
        return bool(found)

    @traced
    async def put_pending(self, user_id: UUID, sealed: SealedSecret) -> None:
        with postgres_errors():
            stored = await self._pool.fetchval(
                _PUT_PENDING, user_id, sealed.key_id, sealed.ciphertext
            )
        if stored is None:
            raise FactorAlreadyActive()

    @traced
    async def activate(
        self, user_id: UUID, step: int, codes: Sequence[RecoveryCode], enabled: Event
    ) -> bool:
        digests = await self._digests(codes)
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                activated = await connection.fetchval(
                    "UPDATE user_mfa SET active = true, last_step = $2, confirmed_at = now()"
                    " WHERE user_id = $1 AND NOT active RETURNING user_id",
                    user_id,
                    step,
                )
                if activated is None:
                    return False
                await self._store_codes(connection, user_id, digests)
                await insert_event(connection, enabled)
        return True

    @staticmethod
    async def _store_codes(connection: Any, user_id: UUID, digests: list[bytes]) -> None:
        await connection.execute("DELETE FROM user_recovery_codes WHERE user_id = $1", user_id)
        await connection.executemany(
            "INSERT INTO user_recovery_codes (user_id, digest) VALUES ($1, $2)",
            [(user_id, digest) for digest in digests],
        )

    @traced
    async def accept_step(self, user_id: UUID, step: int) -> bool:
        with postgres_errors():
            accepted = await self._pool.fetchval(
                "UPDATE user_mfa SET last_step = $2 WHERE user_id = $1 AND active"
                " AND (last_step IS NULL OR last_step < $2) RETURNING user_id",
                user_id,
                step,
            )
        return accepted is not None

    @traced
    async def reseal(self, user_id: UUID, old_key_id: str, sealed: SealedSecret) -> None:
        with postgres_errors():
            await self._pool.execute(
                "UPDATE user_mfa SET key_id = $3, secret_ciphertext = $4"
                " WHERE user_id = $1 AND key_id = $2",
                user_id,
                old_key_id,
                sealed.key_id,
                sealed.ciphertext,
            )

    @traced
    async def replace_recovery_codes(self, user_id: UUID, codes: Sequence[RecoveryCode]) -> None:
        digests = await self._digests(codes)
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                await self._store_codes(connection, user_id, digests)

    @traced
    async def use_recovery_code(self, user_id: UUID, code: RecoveryCode, used: Event) -> bool:
        [digest] = await self._digests([code])
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                marked = await connection.fetchval(
                    "UPDATE user_recovery_codes SET used_at = now()"
                    " WHERE user_id = $1 AND digest = $2 AND used_at IS NULL RETURNING user_id",
                    user_id,
                    digest,
                )
                if marked is None:
                    return False
                await insert_event(connection, used)
        return True

    @traced
    async def remove(self, user_id: UUID, disabled: Event, notice: Message | None = None) -> bool:
        with postgres_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                removed = await connection.fetchval(
                    "DELETE FROM user_mfa WHERE user_id = $1 AND active RETURNING user_id",
                    user_id,
                )
                if removed is None:
                    return False
                await insert_event(connection, disabled)
                if notice is not None:
                    await insert_message(connection, notice)
        return True


async def any_enrolled(pool: BoundedPool) -> bool:
    """Whether any user has a factor (pending or active): the start-up check's question."""
    with postgres_errors():
        found = await pool.fetchval("SELECT EXISTS (SELECT 1 FROM user_mfa)")
    return bool(found)
