"""A server process's CPU time over a measured window, and its CPU per call.

CPU per call is what one answered call costs the server, whatever the
generator's share of the machine: the process's user + system time (all its
threads, from ``/proc/<pid>/stat``) over the window, divided by the calls
answered in it. Read from ``/proc`` (Linux only) rather than psutil: two
fields of one file, where a dependency would add nothing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from load import Load

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# Both generators answer calls for a second before they start counting them.
WARM_UP_SECONDS = 1.0

Measured = TypeVar("Measured", bound=Load)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far, all its threads together."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its ")" do not.
    fields = stat[stat.rindex(")") + 2 :].split()
    user, system = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (user + system) / TICKS_PER_SECOND


@dataclass(frozen=True)
class CpuWindow:
    """CPU seconds a server used over ``seconds`` of wall time."""

    cpu: float
    seconds: float

    def per_call(self, load: Load) -> float:
        """Microseconds of server CPU per call at ``load``'s rate of answered calls."""
        calls = load.rate * self.seconds
        return self.cpu / calls * 1e6 if calls else 0.0


async def with_cpu(pid: int, run: Awaitable[Measured]) -> tuple[Measured, CpuWindow]:
    """``run`` (a load), and ``pid``'s CPU from the end of the warm-up to the end of the load."""
    task: asyncio.Task[Any] = asyncio.ensure_future(run)
    await asyncio.sleep(WARM_UP_SECONDS)
    started, cpu_started = time.monotonic(), cpu_seconds(pid)
    load = await task
    window = CpuWindow(cpu_seconds(pid) - cpu_started, time.monotonic() - started)
    return load, window


@dataclass(frozen=True)
class CpuRow:
    """One workload's median server CPU per call (µs) and throughput (calls/s)."""

    name: str
    cpu_per_call: float
    rate: float


def cpu_table(noop: CpuRow, rows: list[CpuRow]) -> tuple[list[str], list[dict[str, Any]]]:
    """The printed table (CPU per call, its multiple of the no-op's, throughput and its share
    of the no-op's) and the same as data."""
    lines = [f"{'call':36} {'CPU/call':>10} {'x no-op':>8} {'req/s':>9} {'x no-op':>8}"]
    data = []
    for row in [noop, *rows]:
        cpu_multiple = row.cpu_per_call / noop.cpu_per_call if noop.cpu_per_call else 0.0
        rate_share = row.rate / noop.rate if noop.rate else 0.0
        lines.append(
            f"{row.name:36} {row.cpu_per_call:8.0f}µs {cpu_multiple:8.2f}"
            f" {row.rate:9.0f} {rate_share:8.2f}"
        )
        data.append(
            {
                "call": row.name,
                "cpu_us_per_call": round(row.cpu_per_call, 1),
                "cpu_multiple_of_noop": round(cpu_multiple, 2),
                "requests_per_second": round(row.rate, 1),
                "rate_share_of_noop": round(rate_share, 3),
            }
        )
    return lines, data
