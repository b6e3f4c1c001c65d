"""Which stores answer: a tiny circuit breaker per store, and the error that says one does not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from app.domain.deadlines import bound
from app.domain.errors import Store


class StoreStates:
    """Satisfies ``StoreAvailability``.

    A failure (a probe that failed, a call that timed out or lost its
    connection) marks its store down for ``open_seconds``; a success (a probe
    or a call that answered) marks it up at once. While a store is down, use
    cases fail fast instead of hashing a password for a call that cannot
    succeed. The open time is short so that, between probes, the next calls
    try the store again by themselves (the breaker's half-open state): one
    failing call re-opens it, one answering call closes it.
    """

    def __init__(self, *, open_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._open_seconds = open_seconds
        self._clock = clock
        self._down_until: dict[Store, float] = {}

    def failed(self, store: Store) -> None:
        self._down_until[store] = self._clock() + self._open_seconds

    def succeeded(self, store: Store) -> None:
        self._down_until.pop(store, None)

    def observed(self, store: Store, answered: bool) -> None:
        """An outcome seen elsewhere (a health probe's): ``store`` answered, or did not."""
        (self.succeeded if answered else self.failed)(store)

    def known_down(self, store: Store) -> bool:
        until = self._down_until.get(store)
        return until is not None and self._clock() < until

    @asynccontextmanager
    async def bounded(
        self,
        store: Store,
        call_timeout: float,
        unavailable: Callable[[BaseException], bool],
    ) -> AsyncIterator[None]:
        """Bound the block by ``call_timeout`` and the caller's deadline; note the outcome.

        A block that ends normally marks ``store`` up; one that fails with an
        error ``unavailable`` accepts, or runs out of ``call_timeout``, marks it
        down. A block cut short by the caller's own deadline says nothing of the
        store, nor does one whose command the store refused as wrong (a bug).
        """
        budget = bound(call_timeout)
        try:
            async with asyncio.timeout(budget):
                yield
        except BaseException as err:
            self.note_failure(store, err, budget >= call_timeout, unavailable)
            raise
        self.succeeded(store)

    def note_failure(
        self,
        store: Store,
        error: BaseException,
        had_whole_timeout: bool,
        unavailable: Callable[[BaseException], bool],
    ) -> None:
        """Mark ``store`` down if ``error``, ending a bounded call, says it does not answer.

        A timeout says so only when the call had its whole ``call_timeout``
        (``had_whole_timeout``), not when the caller's own deadline cut it short;
        another error says so when ``unavailable`` accepts it.
        """
        if isinstance(error, TimeoutError):
            if had_whole_timeout:
                self.failed(store)
        elif isinstance(error, Exception) and unavailable(error):
            self.failed(store)
