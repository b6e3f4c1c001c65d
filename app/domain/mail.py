"""Mail to users: the message, its kinds, the retry rule, and the ports that queue and send it.

A :class:`Message` is whole where it is made: its id, its kind, its
recipient, the values its templates need and, for a message that carries a
link, the token the link holds. It is written to the message outbox in the
same transaction as the change that causes it (see
:func:`app.adapters.postgres.mail_outbox.insert_message`) and sent later by
the courier (:mod:`app.usecases.courier`), which renders it then: the body is
never stored. The token is the only secret a message may hold; it stays in the
store until the message is sent or abandoned, and is erased then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol
from uuid import UUID, uuid4

from app.domain.users import User


class MessageKind(StrEnum):
    """What a message says; each kind has a subject, a plain-text and an HTML template."""

    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind's name, not a password
    EMAIL_VERIFICATION = "email_verification"
    # An admin removed the user's second factor (ResetUserMfa): the user hears of it.
    SECOND_FACTOR_RESET = "second_factor_reset"
    # A security notice: the password changed (ChangePassword, ResetPassword).
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a kind's name, not a password
    # To the old address when a change of address applied (it carries no token).
    EMAIL_CHANGED = "email_changed"


@dataclass(frozen=True, slots=True)
class Message:
    """One message to one recipient.

    ``values`` fill the templates (a first name, say): never a secret, as they
    are stored as they are. ``token``, when set, is put in the link the
    message carries (the link base URL with ``?token=…``) and nowhere else.
    """

    id: UUID
    kind: MessageKind
    recipient: str
    values: Mapping[str, str] = field(default_factory=dict)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message the courier claimed, with the attempts made before this one."""

    message: Message
    attempts: int


class MailUnavailable(Exception):
    """The mail server could not be reached or asked to try later (a 4xx): worth retrying.

    ``reason`` says what happened, safe to store and log (no message content).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MailRefused(Exception):
    """The mail server refused the message for good (a 5xx), or it cannot be rendered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Sent:
    """The server accepted the message."""


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Try again in ``delay_seconds``; ``reason`` is why this attempt failed."""

    delay_seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class Abandoned:
    """No more attempts; ``reason`` is why the last one failed."""

    reason: str


Outcome = Sent | RetryLater | Abandoned


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential back-off: after the n-th failed attempt (n from 1), wait
    ``first_delay_seconds * 2**(n-1)``, at most ``max_delay_seconds``; after
    ``max_attempts`` failed attempts, give up."""

    max_attempts: int
    first_delay_seconds: float
    max_delay_seconds: float

    def after_failure(self, attempts: int, reason: str) -> RetryLater | Abandoned:
        """The outcome once ``attempts`` attempts (this one included) have failed."""
        if attempts >= self.max_attempts:
            return Abandoned(reason)
        delay = self.first_delay_seconds * 2.0 ** min(attempts - 1, 62)
        return RetryLater(min(delay, self.max_delay_seconds), reason)


class MessageOutbox(Protocol):
    """Messages waiting, durably, to be sent (for a message that changes no other state).

    A change that causes a message writes both in one transaction instead,
    with ``insert_message(connection, message)`` in its adapter.
    """

    async def add(self, message: Message) -> None: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one courier round did with one message."""

    kind: MessageKind
    outcome: Outcome


Deliver = Callable[[QueuedMessage], Awaitable[Outcome]]


class MessageQueue(Protocol):
    """The courier's side of the message outbox."""

    async def deliver_next(self, deliver: Deliver) -> Delivery | None:
        """Claim the oldest message that is due, ``deliver`` it, and record the outcome.

        The claim is exclusive across processes and lasts until the outcome is
        recorded: a courier that dies before that leaves the message due for
        another. :class:`Sent` and :class:`Abandoned` erase the token;
        :class:`RetryLater` makes it due again after the delay. If ``deliver``
        raises, nothing is recorded and the message stays due. None when no
        message is due.
        """
        ...


@dataclass(frozen=True, slots=True)
class Backlog:
    """Messages waiting (neither sent nor abandoned), and the age of the oldest."""

    depth: int
    oldest_age_seconds: float


class MailSender(Protocol):
    """Renders a message and hands it to a mail server."""

    async def send(self, message: Message) -> None:
        """Return once the server accepted ``message``; raise :class:`MailUnavailable`
        (worth retrying) or :class:`MailRefused` (not)."""
        ...


def second_factor_reset_notice(user: User) -> Message:
    """The mail that tells ``user`` an admin removed their second factor."""
    return _notice(user, MessageKind.SECOND_FACTOR_RESET)


def password_changed_notice(user: User) -> Message:
    """The mail that tells ``user`` their password changed, by any path."""
    return _notice(user, MessageKind.PASSWORD_CHANGED)


def _notice(user: User, kind: MessageKind) -> Message:
    return Message(
        id=uuid4(),
        kind=kind,
        recipient=user.email,
        values={"first_name": user.first_name},
    )
