"""The Go service's live sessions in its Redis, read as a ``SessionSource``.

It keeps each session under ``sessions:: <id>`` (its prefix ``sessions:``,
then ``: `` and the id, a random UUID) as JSON ``{"session_id", "user_id"}``,
set to expire after its configured lifetime. Keys are found with SCAN (never
KEYS, which would stop that Redis), and each page's values and remaining
times are read in one round trip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from redis.utils import str_if_bytes

from app.domain.importing import Refused, SourceSession

KEY_PREFIX = "sessions:: "
_NO_KEY, _NO_EXPIRY = -2, -1


def _session(key: str, value: Any, remaining_ms: int) -> SourceSession | Refused | None:
    """The session under ``key``; None when it ended between SCAN and reading it."""
    # Named by a digest of its key: the key holds the session id, a secret.
    reference = f"session key sha256:{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    if value is None or remaining_ms == _NO_KEY:
        return None
    try:
        record = json.loads(value)
        session_id, user_id = record["session_id"], UUID(record["user_id"])
    except (ValueError, TypeError, KeyError):
        return Refused(reference, "not the Go service's session JSON")
    if not isinstance(session_id, str) or key != KEY_PREFIX + session_id:
        return Refused(reference, "session_id: does not match its key")
    remaining = None if remaining_ms == _NO_EXPIRY else remaining_ms / 1000
    return SourceSession(reference, session_id, user_id, remaining)


class GoSessionKeys:
    """Satisfies ``SessionSource`` over a client of the Go service's Redis."""

    def __init__(self, redis: Redis, *, batch_size: int) -> None:
        self._redis = redis
        self._batch_size = batch_size

    async def batches(self) -> AsyncIterator[list[SourceSession | Refused]]:
        cursor: int | None = None
        while cursor != 0:
            cursor, keys = await self._redis.scan(
                cursor or 0, match=f"{KEY_PREFIX}*", count=self._batch_size
            )
            if not keys:
                continue
            names = [str_if_bytes(key) for key in keys]
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.get(name)
                    pipe.pttl(name)
                replies = await pipe.execute()
            sessions = [
                _session(name, replies[2 * index], int(replies[2 * index + 1]))
                for index, name in enumerate(names)
            ]
            yield [session for session in sessions if session is not None]
