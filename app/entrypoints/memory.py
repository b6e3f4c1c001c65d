"""Large buffers go back to the operating system when they are freed.

glibc's malloc gives a block of at least ``M_MMAP_THRESHOLD`` bytes a mapping
of its own, unmapped when freed. By default the threshold is dynamic: each
time such a block is freed it rises to that block's size (up to 32 MiB), so
later requests of up to 1 MiB land in the heap arenas and stay resident after
they are freed, so a burst of large requests (long passwords) would leave the
service larger for good. A fixed threshold keeps every large request buffer in
its own mapping: resident memory returns to where it was.

That is not enough after floods of large requests: each refused request
(a 900 KiB name, say) ends in reference cycles (its exception, traceback and
frames) that hold the request until Python's cyclic collector runs, and an
idle server allocates too little to trigger a full collection; freed heap
pages stay mapped until ``malloc_trim`` hands them back. So
:class:`MemoryReclaimer` collects and trims whenever resident memory has grown
by :data:`RECLAIM_GROWTH_BYTES`, and again while that frees memory. Fewer
malloc arenas (``MALLOC_ARENA_MAX``) would not help: they keep more resident,
not less. The measurements are in docs/scaling.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import os
import sys
from collections.abc import AsyncIterator, Callable

import structlog

from app.stoppable_loop import StoppableLoop

logger = structlog.get_logger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
LARGE_BUFFER_BYTES = 256 * 1024
# Growth of resident memory that makes the reclaimer collect and trim: far
# above what steady traffic adds, far below a flood's hundreds of MiB.
RECLAIM_GROWTH_BYTES = 64 * 1024 * 1024
RECLAIM_CHECK_SECONDS = 5.0


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def return_large_buffers_to_the_os() -> bool:
    """Fix glibc's mmap threshold for this process; False where there is no glibc."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)  # musl has none
    return mallopt is not None and bool(mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER_BYTES))


def trim_malloc_heaps() -> None:
    """Give free pages of every glibc arena back to the OS (nothing without glibc)."""
    malloc_trim = getattr(_libc(), "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)


def collect_and_trim() -> None:
    """Free what only cycles hold (every generation), then return the free pages."""
    gc.collect()
    trim_malloc_heaps()


def resident_bytes() -> int:
    """This process's resident set size, from ``/proc/self/statm`` (0 where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class MemoryReclaimer:
    """Collects cycles and trims the heaps when resident memory grew, and while that pays.

    A check reclaims when resident memory has grown by ``growth`` bytes over
    what the last reclaim left (the floor, which also follows memory down), or
    when the last reclaim freed at least a quarter of ``growth``: garbage of a
    flood becomes collectable only once its calls end, so reclaiming goes on,
    one check at a time, until it frees little. At most one reclaim per check.
    """

    def __init__(
        self,
        growth: int = RECLAIM_GROWTH_BYTES,
        *,
        measure: Callable[[], int] = resident_bytes,
        reclaim: Callable[[], None] | None = None,
    ) -> None:
        self._growth = growth
        self._measure = measure
        self._reclaim = reclaim or collect_and_trim
        self._floor = measure()
        self._paying = False

    def check(self) -> bool:
        """Reclaim if memory grew past the floor or the last reclaim paid; whether it did."""
        before = self._measure()
        if before - self._floor < self._growth and not self._paying:
            self._floor = min(self._floor, before)
            return False
        self._reclaim()
        self._floor = self._measure()
        self._paying = before - self._floor >= self._growth // 4
        logger.info("memory reclaimed", resident_before=before, resident_after=self._floor)
        return True


@contextlib.asynccontextmanager
async def reclaiming_memory(
    reclaimer: MemoryReclaimer | None = None, every: float = RECLAIM_CHECK_SECONDS
) -> AsyncIterator[None]:
    """Check ``reclaimer`` every ``every`` seconds while the block runs."""
    checked = reclaimer or MemoryReclaimer()
    loop = StoppableLoop()

    async def step() -> float:
        checked.check()
        return every

    task = asyncio.create_task(loop.run(step))
    try:
        yield
    finally:
        loop.stop()
        await task
