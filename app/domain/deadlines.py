"""How long the current call may still take: the caller's deadline, as a bound for the stores.

The gRPC edge sets it from the client's deadline (``within(seconds)``); the
adapters read it (``bound(default)``) so that waiting for a connection, the
statements and their cancellation never outlast what the client will wait
for. Outside a call (the relay, start-up) only the adapters' own bound applies.
A ``contextvars`` variable, so concurrent calls each see their own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("call_deadline", default=None)


@contextlib.contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """Run the block under a deadline ``seconds`` from now (None: no deadline)."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def bound(default: float) -> float:
    """The smaller of ``default`` and the time left before the call's deadline (≥ 0)."""
    deadline = _deadline.get()
    if deadline is None:
        return default
    return max(0.0, min(default, deadline - time.monotonic()))
