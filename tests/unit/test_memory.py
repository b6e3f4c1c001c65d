"""Memory goes back to the OS: glibc's mmap threshold is fixed; cycles are collected and heaps
trimmed once resident memory has grown (after a flood)."""

from __future__ import annotations

import asyncio
import sys

import pytest
from structlog.testing import capture_logs

from app.entrypoints.memory import (
    MemoryReclaimer,
    reclaiming_memory,
    resident_bytes,
    return_large_buffers_to_the_os,
    trim_malloc_heaps,
)

MIB = 1024 * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_mmap_threshold_is_fixed_on_glibc():
    assert return_large_buffers_to_the_os() is True


class Process:
    """A resident size the test sets; reclaiming brings it down to ``after``."""

    def __init__(self, resident: int, after: int) -> None:
        self.resident, self.after, self.reclaimed = resident, after, 0

    def measure(self) -> int:
        return self.resident

    def reclaim(self) -> None:
        self.reclaimed += 1
        self.resident = self.after


def test_nothing_is_reclaimed_until_memory_grew_by_the_threshold():
    process = Process(100 * MIB, after=130 * MIB)
    reclaimer = MemoryReclaimer(64 * MIB, measure=process.measure, reclaim=process.reclaim)
    process.resident = 163 * MIB
    assert reclaimer.check() is False
    process.resident = 487 * MIB
    with capture_logs() as logs:
        assert reclaimer.check() is True
    assert process.reclaimed == 1
    assert logs[0]["resident_before"] == 487 * MIB and logs[0]["resident_after"] == 130 * MIB


def test_reclaiming_goes_on_while_it_frees_memory_then_stops():
    process = Process(100 * MIB, after=300 * MIB)
    reclaimer = MemoryReclaimer(64 * MIB, measure=process.measure, reclaim=process.reclaim)
    process.resident = 1400 * MIB  # during a flood: its last calls still hold memory
    assert reclaimer.check() is True
    process.after = 130 * MIB  # the flood is over: what it left is garbage now
    assert reclaimer.check() is True  # no growth, but the last reclaim paid
    assert reclaimer.check() is True  # freed nothing more…
    assert [reclaimer.check() for _ in range(3)] == [False, False, False]  # …so it stops
    assert (process.reclaimed, process.resident) == (3, 130 * MIB)


def test_live_memory_within_the_threshold_is_not_reclaimed_again_and_again():
    process = Process(100 * MIB, after=180 * MIB)
    reclaimer = MemoryReclaimer(64 * MIB, measure=process.measure, reclaim=process.reclaim)
    process.resident = 190 * MIB  # grew by 90 MiB, reclaiming frees 10: live data
    assert reclaimer.check() is True
    process.resident = 200 * MIB
    assert [reclaimer.check() for _ in range(3)] == [False, False, False]
    assert process.reclaimed == 1


def test_the_floor_follows_memory_down():
    process = Process(300 * MIB, after=0)
    reclaimer = MemoryReclaimer(64 * MIB, measure=process.measure, reclaim=process.reclaim)
    process.resident = 120 * MIB
    assert reclaimer.check() is False
    process.resident = 190 * MIB  # 70 MiB above the new floor, below the first one
    assert reclaimer.check() is True


def test_the_real_measure_and_trim_work_on_this_platform():
    trim_malloc_heaps()
    assert resident_bytes() > MIB if sys.platform.startswith("linux") else resident_bytes() == 0


async def test_the_service_checks_while_it_serves_and_stops_with_it():
    process = Process(100 * MIB, after=100 * MIB)
    reclaimed = asyncio.Event()

    def reclaim() -> None:
        process.reclaim()
        reclaimed.set()

    reclaimer = MemoryReclaimer(MIB, measure=process.measure, reclaim=reclaim)
    process.resident = 200 * MIB
    async with reclaiming_memory(reclaimer, every=3600):
        await asyncio.wait_for(reclaimed.wait(), 30)
    assert process.reclaimed == 1
