"""argon2id password hashing in a bounded thread pool, off the event loop."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NoReturn, TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.domain.errors import ServerBusy
from app.observability.tracing import traced

T = TypeVar("T")


class Argon2PasswordHasher:
    """Satisfies ``PasswordHasher`` with argon2-cffi.

    argon2-cffi releases the GIL while hashing, so ``max_workers`` threads hash
    in parallel while the event loop keeps serving; the pool's size bounds how
    much CPU and memory (``memory_cost_kib`` each) concurrent logins may take.
    At most ``max_waiting`` more hashes wait for a thread: past that a call
    fails at once with ``ServerBusy`` instead of queueing without bound.
    """

    def __init__(
        self,
        *,
        memory_cost_kib: int,
        time_cost: int,
        parallelism: int,
        max_workers: int,
        max_waiting: int,
    ) -> None:
        self._hasher = Argon2Hasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="argon2")
        # Taken when a hash is submitted, given back when its thread is done
        # with it (not when its caller stops waiting: a cancelled call's hash
        # still occupies its thread).
        self.capacity = max_workers + max_waiting
        self.in_flight = 0  # hashing or waiting for a thread
        self.refused = 0  # calls refused with ServerBusy so far
        self._lock = threading.Lock()
        # A hash of a random password with the current parameters: verifying an
        # unknown user's password against it costs what a real check costs.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    @traced
    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    @traced
    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(self._verify, password_hash, password)

    @traced
    async def verify_dummy(self, password: str) -> None:
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def check_capacity(self) -> None:
        # A glance, not a reservation: a hash asked for a moment later may still
        # find the queue full and be refused then.
        if self.in_flight >= self.capacity:
            self._refuse()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _run(self, function: Callable[..., T], *arguments: str) -> T:
        with self._lock:
            if self.in_flight >= self.capacity:
                self._refuse()
            self.in_flight += 1
        try:
            submitted: Future[T] = self._executor.submit(function, *arguments)
        except BaseException:
            self._release()
            raise
        submitted.add_done_callback(lambda _: self._release())
        return await asyncio.wrap_future(submitted)

    def _release(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _refuse(self) -> NoReturn:
        self.refused += 1
        raise ServerBusy()

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
