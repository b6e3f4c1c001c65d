"""``python -m tests.support.skewed_clock SECONDS <command>``: the service with a wrong clock.

Runs ``python -m app <command>`` in a process whose ``time.time`` is off by
``SECONDS`` (negative: behind), as a host whose clock drifted would be. The
process's monotonic clock, which bounds its waits, is left alone.
"""

from __future__ import annotations

import sys
import time

from app.entrypoints.cli import main


def skew_wall_clock(seconds: float) -> None:
    real = time.time
    time.time = lambda: real() + seconds


if __name__ == "__main__":
    skew_wall_clock(float(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
