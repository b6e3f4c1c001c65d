"""Erasure of a person's data from the stored events (``event_outbox``, ``user_audit_log``).

The events about a deleted user lose every key of ``PERSONAL_DATA_KEYS``;
the events the user acted in lose the user's network (``source_address``).
User ids and event types stay, so the history keeps its shape. Both tables
are scrubbed when the user's row is deleted, in that transaction; the audit
log is scrubbed again when it records the ``user.deleted`` event, for the
events of the user that were still on their way from the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from app.domain.events import PERSONAL_DATA_KEYS

_PERSONAL_KEYS = sorted(PERSONAL_DATA_KEYS)

_SCRUB_OUTBOX = """
UPDATE event_outbox SET data = data - $2::text[]
WHERE user_id = ANY($1::uuid[]) AND data ?| $2::text[]
"""
_SCRUB_OUTBOX_ACTOR = """
UPDATE event_outbox SET data = data - 'source_address'
WHERE data->>'actor_id' = ANY($1::text[]) AND data ? 'source_address'
"""
_SCRUB_AUDIT_LOG = """
UPDATE user_audit_log SET data = data - $2::text[], source_address = NULL
WHERE user_id = ANY($1::uuid[]) AND (data ?| $2::text[] OR source_address IS NOT NULL)
"""
_SCRUB_AUDIT_LOG_ACTOR = """
UPDATE user_audit_log SET data = data - 'source_address', source_address = NULL
WHERE actor_id = ANY($1::uuid[]) AND (data ? 'source_address' OR source_address IS NOT NULL)
"""


async def erase_from_outbox(connection: asyncpg.Connection, user_id: UUID) -> None:
    """Scrub the outbox's events about and by ``user_id`` (inside the caller's transaction)."""
    await connection.execute(_SCRUB_OUTBOX, [user_id], _PERSONAL_KEYS)
    await connection.execute(_SCRUB_OUTBOX_ACTOR, [str(user_id)])


async def erase_from_audit_log(
    connection: asyncpg.Connection | asyncpg.Pool, user_ids: Sequence[UUID]
) -> None:
    """Scrub the audit log's events about and by ``user_ids``."""
    await connection.execute(_SCRUB_AUDIT_LOG, list(user_ids), _PERSONAL_KEYS)
    await connection.execute(_SCRUB_AUDIT_LOG_ACTOR, list(user_ids))
