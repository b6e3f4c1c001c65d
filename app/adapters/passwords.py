"""argon2id password hashing in a bounded thread pool, off the event loop."""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.observability.tracing import traced


class Argon2PasswordHasher:
    """Satisfies ``PasswordHasher`` with argon2-cffi.

    argon2-cffi releases the GIL while hashing, so ``max_workers`` threads hash
    in parallel while the event loop keeps serving; the pool's size bounds how
    much CPU and memory (``memory_cost_kib`` each) concurrent logins may take.
    """

    def __init__(
        self,
        *,
        memory_cost_kib: int,
        time_cost: int,
        parallelism: int,
        max_workers: int,
    ) -> None:
        self._hasher = Argon2Hasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="argon2")
        # A hash of a random password with the current parameters: verifying an
        # unknown user's password against it costs what a real check costs.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    @traced
    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._hasher.hash, password)

    @traced
    async def verify(self, password_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._verify, password_hash, password)

    @traced
    async def verify_dummy(self, password: str) -> None:
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
