"""The relay sweeps events left waiting: at its interval, and on even when a sweep fails."""

from __future__ import annotations

import asyncio

import pytest

from app.domain.errors import Store, StoreUnavailable
from app.usecases.relay import OutboxRelay, Sweeping
from tests.unit.fakes import FakeOutboxBatches, NoPublisher


class CountedWaitingEvents:
    """Hands out ``waiting`` on each sweep; fails the sweeps numbered in ``failing``."""

    def __init__(self, waiting: int, failing: frozenset[int] = frozenset()) -> None:
        self.waiting = waiting
        self.failing = failing
        self.sweeps = 0

    async def sweep(self) -> int:
        self.sweeps += 1
        if self.sweeps in self.failing:
            raise StoreUnavailable(Store.REDIS, "ConnectionError")
        return self.waiting


def relay(waiting: CountedWaitingEvents, interval: float) -> OutboxRelay:
    return OutboxRelay(
        FakeOutboxBatches(),
        NoPublisher(),
        batch_size=10,
        poll_interval_seconds=0.01,
        sweeping=Sweeping(waiting, interval_seconds=interval),
    )


async def test_a_sweep_runs_once_per_interval_and_reports_what_it_published():
    waiting = CountedWaitingEvents(waiting=3)
    sweeper = relay(waiting, interval=3600)
    assert [await sweeper.sweep_if_due() for _ in range(3)] == [3, 0, 0]
    assert waiting.sweeps == 1


async def test_every_round_sweeps_when_the_interval_is_short():
    waiting = CountedWaitingEvents(waiting=2)
    sweeper = relay(waiting, interval=0)
    assert [await sweeper.sweep_if_due() for _ in range(3)] == [2, 2, 2]


async def test_a_failed_sweep_is_retried_at_the_next_interval_not_at_once():
    waiting = CountedWaitingEvents(waiting=1, failing=frozenset({1}))
    sweeper = relay(waiting, interval=3600)
    with pytest.raises(StoreUnavailable):
        await sweeper.sweep_if_due()
    assert await sweeper.sweep_if_due() == 0
    assert waiting.sweeps == 1


async def test_without_sweeping_configured_nothing_is_swept():
    plain = OutboxRelay(FakeOutboxBatches(), NoPublisher(), batch_size=10, poll_interval_seconds=1)
    assert await plain.sweep_if_due() == 0


async def test_a_running_relay_sweeps_in_its_rounds():
    waiting = CountedWaitingEvents(waiting=1)
    running = relay(waiting, interval=0)
    task = asyncio.create_task(running.run())
    try:
        async with asyncio.timeout(10):
            while waiting.sweeps < 3:
                await asyncio.sleep(0.01)
    finally:
        running.stop()
        await asyncio.wait_for(task, 10)
