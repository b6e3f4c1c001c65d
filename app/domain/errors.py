"""Domain errors: what can go wrong, as types.

Use cases and adapters raise these (chaining the cause with ``raise … from``);
the gRPC edge turns each type into a status code and an ErrorInfo reason in
one table (``app/grpc/errors.py``; the catalogue is docs/errors.md). Messages
are safe to show to a client: they never carry a password, a hash or a
session id.
"""

from __future__ import annotations

from enum import StrEnum


class Store(StrEnum):
    """The backing stores, by the names the logs, health and metrics use."""

    POSTGRESQL = "postgresql"
    REDIS = "redis"


class DomainError(Exception):
    """Base of every error the service expects and reports to clients."""

    message = "request failed"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    @property
    def public_message(self) -> str:
        return str(self.args[0])


class InvalidInput(DomainError):
    """A request field is malformed; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class WeakPassword(InvalidInput):
    """A new password that is too easy to guess; ``problem`` says why, for the user."""


class EmailTaken(DomainError):
    message = "a user with this email already exists"


class UserNotFound(DomainError):
    message = "user not found"


class InvalidCredentials(DomainError):
    """Unknown email or wrong password: deliberately indistinguishable."""

    message = "invalid email or password"


class WrongPassword(InvalidCredentials):
    """The current password given to change it did not match (the caller is known)."""

    message = "the current password is not correct"


class Unauthenticated(DomainError):
    """No session, or one that is unknown, expired or logged out."""

    message = "a valid session is required"


class PermissionDenied(DomainError):
    message = "permission denied"


class SessionNotFound(DomainError):
    """No live session of the caller has this handle."""

    message = "session not found"


class LastAdmin(DomainError):
    """The change would leave no active admin: the last one cannot demote, disable or delete
    itself."""

    message = "the last active admin cannot be demoted, disabled or deleted"


class RetryLater(DomainError):
    """A refusal that tells the client how long to wait: ``retry_after_seconds``."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__()
        self.retry_after_seconds = retry_after_seconds


class Throttled(RetryLater):
    """Too many attempts from this account or address; retry after ``retry_after_seconds``.

    The message is the same whichever limit was hit, so it says nothing about
    whether the account exists.
    """

    message = "too many attempts, try again later"

    def __init__(
        self,
        retry_after_seconds: float,
        *,
        action: str = "",
        scope: str = "",
        first_refusal: bool = False,
    ) -> None:
        super().__init__(retry_after_seconds)
        # For metrics and events only, never for the client: which limit was hit
        # (``account`` or ``address``) on which action, and whether this is the
        # first refusal of the current block (so a block is reported once).
        self.action = action
        self.scope = scope
        self.first_refusal = first_refusal


class ServerBusy(RetryLater):
    """Too much costly work (password hashing) is queued already; retry shortly."""

    message = "server busy, try again later"

    def __init__(self, retry_after_seconds: float = 1.0) -> None:
        super().__init__(retry_after_seconds)


class StoreUnavailable(DomainError):
    """PostgreSQL or Redis did not answer in time; the call may be retried.

    ``store`` names the store (``postgresql``, ``redis``) and ``reason`` the
    class of the failure (``TimeoutError``, ``ConnectionError``…) for the log;
    neither reaches the client, whose message stays generic.
    """

    message = "a backing store is unavailable, try again later"

    def __init__(self, store: Store | None = None, reason: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.reason = reason


class StoreFault(DomainError):
    """PostgreSQL or Redis refused a command as wrong: a bug of ours, not an outage.

    A Lua script that fails, a key of the wrong type, a query the database
    cannot run. Retrying will not help and the store itself is fine, so it
    does not count against the store's availability. ``store`` and ``reason``
    (the library error's class) are for the log; the client is told only that
    something went wrong inside.
    """

    message = "internal error"

    def __init__(self, store: Store | None = None, reason: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.reason = reason
