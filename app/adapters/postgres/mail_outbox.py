"""The message outbox: mail stored with the change that causes it, sent later by the courier.

:func:`insert_message` is the one writer of new rows: an adapter that makes a
change passes its connection, so the change and its message commit together
or not at all. The courier claims one due message at a time with ``FOR UPDATE
SKIP LOCKED`` (several couriers never take the same one), sends it while
holding the claim, and records the outcome in the same transaction. A courier
that dies mid-send rolls back: the message is due again for the next one. A
crash after the mail server accepted and before the commit sends it again:
at least once, never zero times.

The body is rendered when sending and never stored; the token, the only
secret, is erased when the message is sent or abandoned.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from app.adapters.postgres.errors import postgres_errors
from app.domain.mail import (
    Abandoned,
    Backlog,
    Deliver,
    Delivery,
    Message,
    MessageKind,
    Outcome,
    QueuedMessage,
    RetryLater,
)
from app.observability.tracing import traced

_INSERT = """
INSERT INTO mail_outbox (message_id, kind, recipient, template_values, token)
VALUES ($1, $2, $3, $4::jsonb, $5)
"""

# Waiting: neither sent nor abandoned. Due: waiting, and its next attempt has come.
_WAITING = "sent_at IS NULL AND abandoned_at IS NULL"

_CLAIM = f"""
SELECT id, message_id, kind, recipient, template_values, token, attempts
FROM mail_outbox
WHERE {_WAITING} AND next_attempt_at <= now()
ORDER BY next_attempt_at, id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""  # noqa: S608 - only the module's constant condition is interpolated

# Asked before the work with the SQL instrumentation suppressed, so that an
# idle courier's polls leave no trace (a trace starts when there is work).
_ANY_DUE = f"""
SELECT EXISTS (SELECT 1 FROM mail_outbox WHERE {_WAITING} AND next_attempt_at <= now())
"""  # noqa: S608

_SENT = """
UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1, token = NULL, last_error = NULL
WHERE id = $1
"""
_RETRY = """
UPDATE mail_outbox
SET attempts = attempts + 1, last_error = $2,
    next_attempt_at = now() + make_interval(secs => $3)
WHERE id = $1
"""
_ABANDONED = """
UPDATE mail_outbox
SET abandoned_at = now(), attempts = attempts + 1, last_error = $2, token = NULL
WHERE id = $1
"""

_BACKLOG = f"""
SELECT count(*) AS depth,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest
FROM mail_outbox WHERE {_WAITING}
"""  # noqa: S608

# A reason longer than this is cut: a server's reply is for a person to read.
_REASON_LIMIT = 500


async def insert_message(connection: asyncpg.Connection | asyncpg.Pool, message: Message) -> None:
    """Write ``message`` on ``connection``, inside whatever transaction it is in
    (or on the pool, for a message that changes no other state)."""
    await connection.execute(
        _INSERT,
        message.id,
        message.kind.value,
        message.recipient,
        json.dumps(dict(message.values)),
        message.token,
    )


_tracer = trace.get_tracer("app")


class MailOutboxPgRepository:
    """Satisfies ``MessageOutbox`` and ``MessageQueue`` on the ``mail_outbox`` table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @traced
    async def add(self, message: Message) -> None:
        with postgres_errors():
            await insert_message(self._pool, message)

    async def deliver_next(self, deliver: Deliver) -> Delivery | None:
        """Deliver the next due message (in a span of this name); an idle poll, untraced."""
        with suppress_instrumentation(), postgres_errors():
            if not await self._pool.fetchval(_ANY_DUE):
                return None
        with _tracer.start_as_current_span("MailOutboxPgRepository.deliver_next"):
            with postgres_errors():
                async with self._pool.acquire() as connection, connection.transaction():
                    row = await connection.fetchrow(_CLAIM)
                    if row is None:
                        return None
                    queued = _queued(row)
                    outcome = await deliver(queued)
                    await _record(connection, row["id"], outcome)
            return Delivery(queued.message.kind, outcome)

    async def backlog(self) -> Backlog:
        """How many messages wait and for how long the oldest has (for metrics and tests)."""
        with suppress_instrumentation(), postgres_errors():
            row = await self._pool.fetchrow(_BACKLOG)
        return Backlog(int(row["depth"]), float(row["oldest"]))


def _queued(row: Any) -> QueuedMessage:
    message = Message(
        id=row["message_id"],
        kind=MessageKind(row["kind"]),
        recipient=row["recipient"],
        values=json.loads(row["template_values"]),
        token=row["token"],
    )
    return QueuedMessage(message, row["attempts"])


async def _record(connection: asyncpg.Connection, row_id: int, outcome: Outcome) -> None:
    if isinstance(outcome, RetryLater):
        reason = outcome.reason[:_REASON_LIMIT]
        await connection.execute(_RETRY, row_id, reason, outcome.delay_seconds)
    elif isinstance(outcome, Abandoned):
        await connection.execute(_ABANDONED, row_id, outcome.reason[:_REASON_LIMIT])
    else:
        await connection.execute(_SENT, row_id)
