"""argon2id password hashing in a bounded thread pool, off the event loop, shared out fairly;
imported bcrypt hashes verified in the same pool and replaced at the first login."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.adapters.fair_queue import FairQueue, HashKind, Waiting
from app.adapters.hash_schemes import HashScheme, scheme_of, verify_bcrypt
from app.domain.clients import Client
from app.domain.errors import ServerBusy
from app.observability.tracing import traced

T = TypeVar("T")


@dataclass(eq=False)
class _Work:
    function: Callable[..., Any]
    arguments: tuple[str, ...]
    # Completed by the thread; cancelled by the waiting call when its caller gives up.
    outcome: Future[Any]


class Argon2PasswordHasher:
    """Satisfies ``PasswordHasher`` with argon2-cffi.

    argon2-cffi releases the GIL while hashing, so ``max_workers`` threads hash
    in parallel while the event loop keeps serving; the pool's size bounds how
    much CPU and memory (``memory_cost_kib`` each) concurrent logins may take.
    At most ``max_waiting`` more hashes wait for a thread, at most
    ``max_waiting_per_client`` of one client (its ``address_group``): past
    either a call fails at once with ``ServerBusy`` instead of queueing. Waiting
    hashes get a thread in the order of :class:`~app.adapters.fair_queue.FairQueue`:
    clients in turn, and at most one new-password hash per
    ``checks_per_new_hash`` password checks while checks wait.

    A bcrypt hash (an imported user's, see ``app.adapters.hash_schemes``) is
    verified in the same pool and queue, and always ``needs_rehash``: the first
    login that proves it replaces it with argon2id.
    """

    def __init__(
        self,
        *,
        memory_cost_kib: int,
        time_cost: int,
        parallelism: int,
        max_workers: int,
        max_waiting: int,
        max_waiting_per_client: int | None = None,
        checks_per_new_hash: int = 4,
    ) -> None:
        self._hasher = Argon2Hasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._workers = max_workers
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="argon2")
        self._queue: FairQueue[_Work] = FairQueue(
            max_per_client=max_waiting
            if max_waiting_per_client is None
            else max_waiting_per_client,
            checks_per_new_hash=checks_per_new_hash,
        )
        # Work is handed to the executor only when one of its threads is free,
        # so the order is the fair queue's, never the executor's own FIFO.
        self._running = 0
        self._closed = False
        self.capacity = max_workers + max_waiting
        self.in_flight = 0  # hashing or waiting for a thread
        self.refused = 0  # calls refused with ServerBusy so far
        self._lock = threading.Lock()
        # A hash of a random password with the current parameters: verifying an
        # unknown user's password against it costs what a real check costs.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    @traced
    async def hash(self, password: str, *, client: Client) -> str:
        return await self._run(self._hasher.hash, password, client=client, kind=HashKind.NEW)

    @traced
    async def verify(self, password_hash: str, password: str, *, client: Client) -> bool:
        return await self._run(
            self._verify, password_hash, password, client=client, kind=HashKind.CHECK
        )

    @traced
    async def verify_dummy(self, password: str, *, client: Client) -> None:
        await self.verify(self._dummy_hash, password, client=client)

    def needs_rehash(self, password_hash: str) -> bool:
        if scheme_of(password_hash) is HashScheme.BCRYPT:
            return True
        return self._hasher.check_needs_rehash(password_hash)

    def check_capacity(self, *, client: Client) -> None:
        # A glance, not a reservation: a hash asked for a moment later may still
        # find the queue full and be refused then.
        if not self._admits(client.address_group):
            self._refuse()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            abandoned = []
            while (waiting := self._queue.pop()) is not None:
                abandoned.append(waiting.work.outcome)
        for outcome in abandoned:
            outcome.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _run(
        self, function: Callable[..., T], *arguments: str, client: Client, kind: HashKind
    ) -> T:
        outcome: Future[T] = Future()
        waiting = Waiting(client.address_group, kind, _Work(function, arguments, outcome))
        with self._lock:
            if not self._admits(waiting.client):
                self._refuse()
            self.in_flight += 1
            self._queue.push(waiting)
            self._dispatch()
        outcome.add_done_callback(lambda done: self._forget_if_cancelled(done, waiting))
        return await asyncio.wrap_future(outcome)

    def _admits(self, client: str) -> bool:
        return self.in_flight < self.capacity and self._queue.admits(client)

    def _dispatch(self) -> None:
        """Hand waiting work to free threads, in the fair queue's order (lock held)."""
        while not self._closed and self._running < self._workers:
            waiting = self._queue.pop()
            if waiting is None:
                return
            self._running += 1
            self._executor.submit(self._execute, waiting.work)

    def _execute(self, work: _Work) -> None:
        """On a hashing thread: run ``work`` unless its caller gave up, then the next."""
        try:
            if work.outcome.set_running_or_notify_cancel():
                try:
                    work.outcome.set_result(work.function(*work.arguments))
                except BaseException as error:
                    work.outcome.set_exception(error)
        finally:
            with self._lock:
                self._running -= 1
                self.in_flight -= 1
                self._dispatch()

    def _forget_if_cancelled(self, outcome: Future[Any], waiting: Waiting[_Work]) -> None:
        # A call whose caller gave up leaves the queue unhashed; one already
        # handed to a thread is accounted for when that thread is done with it.
        if outcome.cancelled():
            with self._lock:
                if self._queue.remove(waiting):
                    self.in_flight -= 1

    def _refuse(self) -> NoReturn:
        self.refused += 1
        raise ServerBusy()

    def _verify(self, password_hash: str, password: str) -> bool:
        if scheme_of(password_hash) is HashScheme.BCRYPT:
            return verify_bcrypt(password_hash, password)
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
