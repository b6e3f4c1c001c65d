"""Couriers running in the test's process, and what the message outbox holds."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from app.adapters.postgres.bounded_pool import BoundedPool
from app.bootstrap.mail import build_courier
from app.usecases.courier import Courier
from tests.support.application import make_settings

# Fast polls and retries, so tests wait for work rather than for the clock.
QUICK_MAIL = {
    "poll_interval_seconds": 0.02,
    "retry_first_seconds": 0.05,
    "retry_max_seconds": 0.2,
    "timeout_seconds": 5.0,
}


def courier_for(pool: BoundedPool, **mail: Any) -> Courier:
    """A courier on ``pool`` with the quick mail settings and ``mail`` over them."""
    return build_courier(make_settings(mail={**QUICK_MAIL, **mail}), pool)


@contextlib.asynccontextmanager
async def couriering(pool: BoundedPool, couriers: int = 1, **mail: Any) -> AsyncIterator[None]:
    """``couriers`` couriers running on ``pool`` until the block ends."""
    started = [courier_for(pool, **mail) for _ in range(couriers)]
    tasks = [asyncio.create_task(courier.run()) for courier in started]
    try:
        yield
    finally:
        for courier in started:
            courier.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def stored_message(pool: BoundedPool, message_id: uuid.UUID) -> dict[str, Any]:
    """The outbox row of a message, as a dict."""
    row = await pool.fetchrow("SELECT * FROM mail_outbox WHERE message_id = $1", message_id)
    assert row is not None
    return dict(row)


async def forget_queued_mail(pool: BoundedPool) -> None:
    """Empty the outbox, so that a test's couriers see only its own messages."""
    await pool.execute("DELETE FROM mail_outbox")
