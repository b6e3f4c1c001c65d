"""A real argon2 hasher that counts the hashes its threads run, optionally slower."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from app.adapters.passwords import Argon2PasswordHasher
from app.config import Settings


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
        )
        self.runs = 0
        self._count_lock = threading.Lock()
        self._delay = delay_seconds

    async def _run(self, function: Callable[..., Any], *arguments: str) -> Any:
        def counted(*values: str) -> Any:
            with self._count_lock:
                self.runs += 1
            time.sleep(self._delay)
            return function(*values)

        return await super()._run(counted, *arguments)
