"""The order in which waiting password hashes get a thread: fair between clients and kinds.

Two kinds of work share the hashing threads: checks of an offered password
(Login, and the current password of ChangePassword) and hashes of a new one
(Register, ChangePassword, a re-hash). Within a kind every client has its own
first-in first-out queue and the clients are served in turn (round-robin), so
a client with many calls waiting delays another client's call by at most one
hash per turn, not by its whole backlog. Between the kinds, while checks wait
a new-password hash gets at most one turn in ``checks_per_new_hash + 1``: a
Register flood cannot push Logins back by more than that share.
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class HashKind(enum.Enum):
    CHECK = "check"  # verifying an offered password: Login, ChangePassword's current one
    NEW = "new"  # hashing a new password: Register, ChangePassword, a re-hash


@dataclass(eq=False)
class Waiting(Generic[T]):
    """One piece of work waiting for a thread, as the queue files it."""

    client: str
    kind: HashKind
    work: T


@dataclass
class _Turns(Generic[T]):
    """One kind's queues: a FIFO per client, the clients in the order they are served."""

    by_client: collections.OrderedDict[str, collections.deque[Waiting[T]]] = field(
        default_factory=collections.OrderedDict
    )

    def push(self, waiting: Waiting[T]) -> None:
        self.by_client.setdefault(waiting.client, collections.deque()).append(waiting)

    def pop(self) -> Waiting[T]:
        client, queue = next(iter(self.by_client.items()))
        waiting = queue.popleft()
        if queue:
            self.by_client.move_to_end(client)  # its next one waits for the others' turns
        else:
            del self.by_client[client]
        return waiting

    def remove(self, waiting: Waiting[T]) -> bool:
        queue = self.by_client.get(waiting.client)
        if queue is None or waiting not in queue:
            return False
        queue.remove(waiting)
        if not queue:
            del self.by_client[waiting.client]
        return True


class FairQueue(Generic[T]):
    """Work waiting for a hashing thread, handed out fairly (see the module's docstring).

    ``max_per_client`` bounds how many of one client's calls may wait; the
    total is bounded by the hasher. Not thread-safe: the owner holds a lock
    around every call.
    """

    def __init__(self, *, max_per_client: int, checks_per_new_hash: int) -> None:
        self._max_per_client = max_per_client
        self._checks_per_new_hash = checks_per_new_hash
        self._turns: dict[HashKind, _Turns[T]] = {kind: _Turns() for kind in HashKind}
        self._per_client: collections.Counter[str] = collections.Counter()
        self._checks_since_new = 0
        self.waiting = 0

    def admits(self, client: str) -> bool:
        """Whether another call of ``client`` may wait now."""
        return self._per_client[client] < self._max_per_client

    def push(self, waiting: Waiting[T]) -> None:
        """File ``waiting`` at the end of its client's queue (call :meth:`admits` first)."""
        self._turns[waiting.kind].push(waiting)
        self._per_client[waiting.client] += 1
        self.waiting += 1

    def pop(self) -> Waiting[T] | None:
        """The work whose turn it is, taken out of the queue; None when nothing waits."""
        checks, new = self._turns[HashKind.CHECK], self._turns[HashKind.NEW]
        if new.by_client and (
            not checks.by_client or self._checks_since_new >= self._checks_per_new_hash
        ):
            self._checks_since_new = 0
            return self._taken(new.pop())
        if checks.by_client:
            self._checks_since_new += 1
            return self._taken(checks.pop())
        return None

    def remove(self, waiting: Waiting[T]) -> bool:
        """Take ``waiting`` out before its turn (its caller gave up); False if not queued."""
        if not self._turns[waiting.kind].remove(waiting):
            return False
        self._taken(waiting)
        return True

    def _taken(self, waiting: Waiting[T]) -> Waiting[T]:
        self._per_client[waiting.client] -= 1
        if not self._per_client[waiting.client]:
            del self._per_client[waiting.client]
        self.waiting -= 1
        return waiting
