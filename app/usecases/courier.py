"""Courier: sends queued messages, one at a time, until stopped.

Orchestration over two ports (the message queue, the mail sender), like the
outbox relay beside it; the same loop runs inside the service
(``mail.courier_enabled``) and as its own process (``make courier``). Several
couriers may run at once: the queue hands each message to one of them.

A failed attempt is retried after a capped exponential back-off (the
:class:`~app.domain.mail.RetryPolicy`); a refusal, or the last attempt, abandons
the message with the reason. Without a sender (no SMTP URL set) the courier
says so once and leaves every message queued.
"""

from __future__ import annotations

import structlog

from app.domain.errors import StoreFault, StoreUnavailable
from app.domain.mail import (
    Abandoned,
    MailRefused,
    MailSender,
    MailUnavailable,
    MessageQueue,
    Outcome,
    QueuedMessage,
    RetryLater,
    RetryPolicy,
    Sent,
)
from app.stoppable_loop import Backoff, StoppableLoop

logger = structlog.get_logger(__name__)

# How long a courier without a sender sleeps between checks that it was stopped
# (a stop ends the sleep at once).
_IDLE_SECONDS = 3600.0


class Courier:
    """Delivers due messages, up to ``batch_size`` back to back, then polls."""

    def __init__(
        self,
        queue: MessageQueue,
        sender: MailSender | None,
        policy: RetryPolicy,
        *,
        batch_size: int,
        poll_interval_seconds: float,
    ) -> None:
        self._queue = queue
        self._sender = sender
        self._policy = policy
        self._batch_size = batch_size
        self._poll_interval = poll_interval_seconds
        self._loop = StoppableLoop(
            Backoff(
                retry_on=(StoreUnavailable, StoreFault),
                base_seconds=poll_interval_seconds,
                logger=logger,
                failure_event="courier failed",
            )
        )

    async def deliver(self, queued: QueuedMessage) -> Outcome:
        """Send one claimed message; the outcome to record."""
        assert self._sender is not None  # only called when there is one
        message, attempts = queued.message, queued.attempts + 1
        try:
            await self._sender.send(message)
        except MailRefused as err:
            outcome: RetryLater | Abandoned = Abandoned(err.reason)
        except MailUnavailable as err:
            outcome = self._policy.after_failure(attempts, err.reason)
        else:
            logger.info("mail sent", message_id=str(message.id), kind=message.kind.value)
            return Sent()
        logger.warning(
            "mail abandoned" if isinstance(outcome, Abandoned) else "mail not sent",
            message_id=str(message.id),
            kind=message.kind.value,
            attempts=attempts,
            reason=outcome.reason,
        )
        return outcome

    async def deliver_batch(self) -> int:
        """Deliver up to ``batch_size`` due messages; how many were handled (0: none due)."""
        handled = 0
        while handled < self._batch_size and not self._loop.stopping:
            if await self._queue.deliver_next(self.deliver) is None:
                break
            handled += 1
        return handled

    async def run(self) -> None:
        """Deliver until :meth:`stop`: full batches back to back, then poll.

        A store that does not answer is logged and retried with a growing
        pause; the messages wait safely in the outbox meanwhile.
        """
        self._loop.rearm()
        if self._sender is None:
            logger.warning(
                "mail is not sent: no SMTP server is set (APP_MAIL__SMTP_URL); messages stay queued"
            )
            while not self._loop.stopping:
                await self._loop.pause(_IDLE_SECONDS)
            return
        logger.info("courier started", batch_size=self._batch_size)
        await self._loop.run(self._round)
        logger.info("courier stopped")

    def stop(self) -> None:
        """Ask :meth:`run` to return after the message in hand (which completes or rolls back)."""
        self._loop.stop()

    async def _round(self) -> float:
        handled = await self.deliver_batch()
        return 0.0 if handled >= self._batch_size else self._poll_interval
