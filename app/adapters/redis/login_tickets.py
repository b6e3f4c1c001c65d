"""RedisLoginTickets: login tickets between a correct password and a code.

``<prefix>mfa-ticket:<sha256(ticket)>`` — a hash: ``user_id``, ``account``
(the canonical email, what the throttle counts on), ``epoch`` (the user's
sessions epoch at the password check), ``expires_at`` (ISO 8601, the
service's clock) and ``wrong`` (wrong codes so far). Redis drops it a little
after its lifetime; the use case decides on ``expires_at``. Only the digest
names it, so a dump of Redis holds no usable ticket.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import UUID

from redis.utils import str_if_bytes

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.domain.second_factor import PendingLogin
from app.observability.tracing import traced

# Counts a wrong code on a live ticket and ends it at the limit (ARGV[1]).
_WRONG_CODE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
if redis.call('HINCRBY', KEYS[1], 'wrong', 1) >= tonumber(ARGV[1]) then
    redis.call('DEL', KEYS[1])
end
return 1
"""

# Redis keeps a ticket this much past its lifetime, so the use case's own check
# (on the service's clock) is the one that refuses it.
_EXPIRY_MARGIN_SECONDS = 30


class RedisLoginTickets:
    """Satisfies ``LoginTickets``."""

    def __init__(self, redis: RedisClient, *, key_prefix: str, lifetime_seconds: float) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._expiry_ms = int((lifetime_seconds + _EXPIRY_MARGIN_SECONDS) * 1000)
        self._wrong_code = redis.register_script(_WRONG_CODE)

    def key(self, ticket: str) -> str:
        return f"{self._prefix}mfa-ticket:{hashlib.sha256(ticket.encode()).hexdigest()}"

    @traced
    async def issue(self, ticket: str, pending: PendingLogin) -> None:
        key = self.key(ticket)
        fields = {
            "user_id": str(pending.user_id),
            "account": pending.account,
            "epoch": str(pending.sessions_epoch),
            "expires_at": pending.expires_at.isoformat(),
            "wrong": "0",
        }
        with redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, items=[part for pair in fields.items() for part in pair])
                pipe.pexpire(key, self._expiry_ms)
                await pipe.execute()

    @traced
    async def get(self, ticket: str) -> PendingLogin | None:
        with redis_errors():
            stored = await self._redis.hgetall(self.key(ticket))
        if not stored:
            return None
        fields = {str_if_bytes(name): str_if_bytes(value) for name, value in stored.items()}
        return PendingLogin(
            user_id=UUID(fields["user_id"]),
            account=fields["account"],
            sessions_epoch=int(fields["epoch"]),
            expires_at=datetime.fromisoformat(fields["expires_at"]),
        )

    @traced
    async def wrong_code(self, ticket: str, limit: int) -> None:
        with redis_errors():
            await self._wrong_code(keys=[self.key(ticket)], args=[limit])

    @traced
    async def consume(self, ticket: str) -> bool:
        with redis_errors():
            return bool(await self._redis.delete(self.key(ticket)))
