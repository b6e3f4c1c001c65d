"""SessionEventForwarder: on a Redis Cluster, the session scripts' events on to the stream.

A script keeps its keys in its user's slot, and the events stream is in
another, so on a cluster the scripts append their events to the user's
``session-events`` list (in the same atomic step as the change they report)
and this forwarder then appends them to the stream and removes them from the
list, each by its own value: a forwarder running at the same time for the
same user (two logins at once) appends some twice (consumers deduplicate on
``event_id``) and never removes one it did not append. Events are therefore
published at least once, in their user's order.

When the stream cannot be reached after the change was made, the call still
succeeds: its events wait in the list and go with the user's next change, or
sooner with the relay's sweep (``session_event_sweeper``), which forwards
every waiting list through :meth:`SessionEventForwarder.forward_waiting`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

import structlog
from redis.typing import EncodableT, FieldT
from redis.utils import str_if_bytes

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.adapters.redis.session_keys import SessionKeys
from app.domain.errors import StoreUnavailable

logger = structlog.get_logger(__name__)


def _fields(entry: str) -> dict[FieldT, EncodableT]:
    flat: Sequence[str] = json.loads(entry)
    return dict(zip(flat[::2], flat[1::2], strict=True))


class SessionEventForwarder:
    """Appends a user's waiting session events to the stream, then forgets them."""

    def __init__(self, redis: RedisClient, keys: SessionKeys, *, max_length: int) -> None:
        self._redis = redis
        self._keys = keys
        self._max_length = max_length

    async def forward(self, user_id: UUID) -> None:
        """Publish the user's waiting events; on an outage they wait for the sweep."""
        try:
            await self.forward_waiting(user_id)
        except StoreUnavailable as error:
            logger.warning(
                "session events wait for the sweep", cause=error.reason, user_id=str(user_id)
            )

    async def forward_waiting(self, user_id: UUID) -> int:
        """Publish the user's waiting events; how many. Raises ``StoreUnavailable``."""
        with redis_errors():
            return await self._forward(user_id)

    async def _forward(self, user_id: UUID) -> int:
        waiting = self._keys.waiting_events(user_id)
        entries = [str_if_bytes(entry) for entry in await self._redis.lrange(waiting, 0, -1)]
        if not entries:
            return 0
        stream = self._keys.stream_of(user_id)
        async with self._redis.pipeline(transaction=False) as appending:
            for entry in entries:
                appending.xadd(
                    stream,
                    _fields(entry),
                    maxlen=self._max_length,
                    approximate=True,
                )
            await appending.execute()
        async with self._redis.pipeline(transaction=False) as removing:
            for entry in entries:
                removing.lrem(waiting, 1, entry)
            await removing.execute()
        return len(entries)
