"""Large buffers go back to the operating system when they are freed.

glibc's malloc gives a block of at least ``M_MMAP_THRESHOLD`` bytes a mapping
of its own, unmapped when freed. By default the threshold is dynamic: each
time such a block is freed it rises to that block's size (up to 32 MiB), so
later requests of up to 1 MiB land in the heap arenas and stay resident after
they are freed. 100 concurrent Logins with 1 MiB passwords left the service
about 270 MiB larger for good that way. A fixed threshold keeps every large
request buffer in its own mapping: resident memory returns to where it was.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
LARGE_BUFFER_BYTES = 256 * 1024


def return_large_buffers_to_the_os() -> bool:
    """Fix glibc's mmap threshold for this process; False where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # no libc to load, or one without mallopt (musl)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER_BYTES))
