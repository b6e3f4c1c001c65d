"""SessionEventSweeper: publishes every user's waiting session events, whoever left them.

On a Redis Cluster a session change leaves its events in its user's
``session-events`` list and the call that made it forwards them to the stream
(``session_events``). When that forward never runs (the process stopped, the
stream's master was down), the events would wait for the user's next change,
which may never come. The relay therefore sweeps too: it scans every master
for waiting lists and forwards each with the same forwarder, so an event waits
at most about one sweep interval while a relay runs and Redis answers.

Forwarders racing (a sweep and a call, or two sweeps) publish some events
twice and lose none: each removes only entries it appended. Consumers keep one
event per ``event_id``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry, Counter
from redis.asyncio.cluster import RedisCluster
from redis.utils import str_if_bytes

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.adapters.redis.session_events import SessionEventForwarder
from app.adapters.redis.session_keys import SessionKeys

#: Keys a SCAN call looks at per node: large enough to sweep quickly, small
#: enough that each call stays short on a node holding millions of keys.
SCAN_COUNT = 1000


class SessionEventSweeper:
    """Satisfies ``WaitingEvents``: forwards each waiting list it finds on the masters."""

    def __init__(
        self,
        redis: RedisClient,
        keys: SessionKeys,
        forwarder: SessionEventForwarder,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._forwarder = forwarder
        self._swept = Counter(
            "session_events_swept_total",
            "Session events the relay's sweep found waiting and published.",
            registry=registry,
        )

    async def sweep(self) -> int:
        """Publish the events waiting in every user's list; how many (``StoreUnavailable``)."""
        swept = 0
        async for key in self._waiting_lists():
            user_id = self._keys.user_of_waiting_events(key)
            if user_id is not None:
                swept += await self._forwarder.forward_waiting(user_id)
        self._swept.inc(swept)
        return swept

    async def _waiting_lists(self) -> AsyncIterator[str]:
        pattern = self._keys.waiting_events_pattern()
        with redis_errors():
            if isinstance(self._redis, RedisCluster):
                found = self._redis.scan_iter(
                    match=pattern, count=SCAN_COUNT, target_nodes=RedisCluster.PRIMARIES
                )
            else:
                found = self._redis.scan_iter(match=pattern, count=SCAN_COUNT)
            async for key in found:
                yield str_if_bytes(key)
