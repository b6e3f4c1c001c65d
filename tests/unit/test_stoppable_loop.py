"""The one stoppable loop: it backs off after failures in a row, and a stop ends its waits."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from app.stoppable_loop import MAX_BACKOFF_SECONDS, Backoff, StoppableLoop
from tests.support.logs import captured_logs

logger = structlog.get_logger("tests.loop")


class Down(Exception):
    """A failure the loop is told to outlive."""


def backoff(base_seconds: float, max_seconds: float = MAX_BACKOFF_SECONDS) -> Backoff:
    return Backoff(
        retry_on=Down,
        base_seconds=base_seconds,
        logger=logger,
        failure_event="loop failed",
        max_seconds=max_seconds,
    )


class ScriptedStep:
    """Fails (``False``) or succeeds (``True``) as scripted, then stops its loop."""

    def __init__(self, loop: StoppableLoop, script: list[bool]) -> None:
        self._loop = loop
        self._script = script
        self.calls = 0

    async def __call__(self) -> float:
        self.calls += 1
        succeeds = self._script.pop(0)
        if not self._script:
            self._loop.stop()
        if not succeeds:
            raise Down("no answer") from ConnectionError("refused")
        return 0.0


def test_the_wait_doubles_after_each_failure_in_a_row_up_to_the_maximum():
    waits = [backoff(0.1).seconds_after(failures) for failures in range(1, 9)]
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]


async def test_failures_back_off_doubling_to_the_cap_and_a_success_starts_again():
    loop = StoppableLoop(backoff(0.001, max_seconds=0.005))
    step = ScriptedStep(loop, [False, False, False, True, False, True])
    with captured_logs("WARNING") as logs:
        await loop.run(step)
    failures = logs.events("loop failed")
    assert [line["retry_in"] for line in failures] == [0.002, 0.004, 0.005, 0.002]
    assert {line["error"] for line in failures} == {"ConnectionError('refused')"}
    assert {line["logger"] for line in failures} == {"tests.loop"}
    assert step.calls == 6


async def test_the_step_decides_the_wait_before_the_next_round():
    loop = StoppableLoop()
    rounds = 0

    async def step() -> float:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            loop.stop()
        return 0.001

    await loop.run(step)
    assert rounds == 3


async def test_a_stop_during_a_long_wait_ends_it_at_once():
    loop = StoppableLoop(backoff(base_seconds=3600.0, max_seconds=3600.0))
    failed = asyncio.Event()

    async def step() -> float:
        failed.set()
        raise Down from ConnectionError("refused")

    running = asyncio.create_task(loop.run(step))
    await failed.wait()
    await asyncio.sleep(0)  # the loop is in its back-off wait now
    loop.stop()
    # A wait that a stop did not end would keep the loop for an hour.
    await asyncio.wait_for(running, 10)
    assert loop.stopping


async def test_a_pause_returns_early_when_stopped():
    loop = StoppableLoop()
    pausing = asyncio.create_task(loop.pause(3600.0))
    await asyncio.sleep(0)
    loop.stop()
    await asyncio.wait_for(pausing, 10)


async def test_a_failure_it_was_not_told_to_outlive_ends_the_loop():
    loop = StoppableLoop(backoff(0.001))

    async def step() -> float:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        await loop.run(step)


async def test_without_a_backoff_every_failure_ends_the_loop():
    loop = StoppableLoop()

    async def step() -> float:
        raise Down

    with pytest.raises(Down):
        await loop.run(step)


async def test_a_rearmed_loop_runs_again_after_a_stop():
    loop = StoppableLoop()
    loop.stop()
    calls = 0

    async def step() -> float:
        nonlocal calls
        calls += 1
        loop.stop()
        return 0.0

    await loop.run(step)
    assert calls == 0
    loop.rearm()
    await loop.run(step)
    assert calls == 1
