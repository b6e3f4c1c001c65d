"""Real argon2 hashers for tests: one that counts (optionally slower), one at the least cost."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from app.adapters.passwords import Argon2PasswordHasher
from app.config import Settings
from app.domain.clients import Client


class CountingHasher(Argon2PasswordHasher):
    """Counts every hash or verification that reached a thread (``runs``).

    ``delay_seconds`` makes each one last that much longer, to fill the queue.
    """

    def __init__(self, settings: Settings, delay_seconds: float = 0.0) -> None:
        configured = settings.passwords
        super().__init__(
            memory_cost_kib=configured.memory_cost_kib,
            time_cost=configured.time_cost,
            parallelism=configured.parallelism,
            max_workers=configured.worker_count(),
            max_waiting=configured.max_waiting,
            max_waiting_per_client=configured.max_waiting_per_client,
            checks_per_new_hash=configured.checks_per_new_hash,
        )
        self.runs = 0
        self._count_lock = threading.Lock()
        self._delay = delay_seconds

    async def _run(self, function: Callable[..., Any], *arguments: str, **work: Any) -> Any:
        def counted(*values: str) -> Any:
            with self._count_lock:
                self.runs += 1
            time.sleep(self._delay)
            return function(*values)

        return await super()._run(counted, *arguments, **work)


class CheapPasswords(Argon2PasswordHasher):
    """argon2id at its cheapest (8 KiB, one pass), for tests that are not about hashing.

    Counts ``hashes`` and ``verifications`` (dummy ones included), so a test
    can tell that a call failed fast, before hashing.
    """

    def __init__(self, *, max_workers: int = 2, max_waiting: int = 64, **fairness: int) -> None:
        super().__init__(
            memory_cost_kib=8,
            time_cost=1,
            parallelism=1,
            max_workers=max_workers,
            max_waiting=max_waiting,
            **fairness,
        )
        self.hashes = 0
        self.verifications = 0

    async def hash(self, password: str, *, client: Client) -> str:
        self.hashes += 1
        return await super().hash(password, client=client)

    async def verify(self, password_hash: str, password: str, *, client: Client) -> bool:
        self.verifications += 1
        return await super().verify(password_hash, password, client=client)


def cheap_passwords_for(settings: Settings) -> CheapPasswords:
    """The cheap hasher with the settings' threads and queue (only the cost is cheap)."""
    configured = settings.passwords
    return CheapPasswords(
        max_workers=configured.worker_count(),
        max_waiting=configured.max_waiting,
        max_waiting_per_client=configured.max_waiting_per_client,
        checks_per_new_hash=configured.checks_per_new_hash,
    )


class HeldVerifications:
    """Holds every password check of ``hasher`` (patched in with ``monkeypatch``) until
    :meth:`release`; ``entered`` counts the checks that are being held."""

    def __init__(self, hasher: Any, monkeypatch: Any) -> None:
        self.entered = asyncio.Semaphore(0)
        self._released = asyncio.Event()
        real_verify = hasher.verify

        async def held_verify(password_hash: str, password: str, **work: Any) -> bool:
            self.entered.release()
            await self._released.wait()
            return bool(await real_verify(password_hash, password, **work))

        monkeypatch.setattr(hasher, "verify", held_verify)

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Until ``count`` checks are held."""
        for _ in range(count):
            await asyncio.wait_for(self.entered.acquire(), timeout)

    def release(self) -> None:
        self._released.set()
