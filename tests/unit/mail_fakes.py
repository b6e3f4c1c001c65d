"""In-memory fakes of the mail ports (app/domain/mail.py), each declaring its Protocol."""

from __future__ import annotations

import dataclasses

from app.domain.mail import (
    Abandoned,
    Deliver,
    Delivery,
    MailSender,
    Message,
    MessageOutbox,
    MessageQueue,
    Outcome,
    QueuedMessage,
    RetryLater,
)


class FakeMessageQueue(MessageQueue, MessageOutbox):
    """Messages in order; a retried one goes to the back (its delay is only recorded)."""

    def __init__(self) -> None:
        self.waiting: list[QueuedMessage] = []
        self.outcomes: list[tuple[Message, Outcome]] = []

    async def add(self, message: Message) -> None:
        self.waiting.append(QueuedMessage(message, attempts=0))

    async def deliver_next(self, deliver: Deliver) -> Delivery | None:
        if not self.waiting:
            return None
        queued = self.waiting[0]
        outcome = await deliver(queued)  # raising leaves it waiting
        self.waiting.pop(0)
        self.outcomes.append((queued.message, outcome))
        if isinstance(outcome, RetryLater):
            self.waiting.append(QueuedMessage(queued.message, queued.attempts + 1))
        return Delivery(queued.message.kind, outcome)

    def tokens_kept(self) -> list[str]:
        """The tokens still stored: those of waiting messages only."""
        return [queued.message.token for queued in self.waiting if queued.message.token]


class FakeMailSender(MailSender):
    """Accepts every message, after raising ``failures`` one per send, in order."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(dataclasses.replace(message))


def abandoned_reasons(queue: FakeMessageQueue) -> list[str]:
    return [outcome.reason for _, outcome in queue.outcomes if isinstance(outcome, Abandoned)]
