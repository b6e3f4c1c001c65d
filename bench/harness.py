"""Shared set-up of the benchmarks: settings on a database and key prefix of their own.

Each benchmark run uses ``user_service_bench_<run id>`` and ``bench:<run id>:``
and removes both when it ends, so a run never touches real data or another
run's. ``BENCH_CALLS`` sets the number of timed calls per measurement.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bootstrap import build_application
from app.config import Settings
from app.lifecycle import Application
from tests.support.isolation import isolated_settings

CALLS = int(os.environ.get("BENCH_CALLS", "2000"))
RUN_ID = uuid.uuid4().hex[:10]


def bench_settings(**sections: dict[str, Any]) -> Settings:
    """This run's database and prefix, port 0, quiet logs, metrics and relay off."""
    return isolated_settings("bench", RUN_ID, **{"logging": {"level": "WARNING"}, **sections})


@contextlib.asynccontextmanager
async def running(settings: Settings, **options: Any) -> AsyncIterator[Application]:
    """A started application, stopped when the block ends."""
    application = await build_application(settings, **options)
    await application.start()
    try:
        yield application
    finally:
        await application.stop(grace=1)


async def measure(call: Callable[[], Awaitable[object]], calls: int = CALLS) -> list[float]:
    """Seconds per call of ``calls`` sequential calls, after a warm-up."""
    for _ in range(min(200, calls)):
        await call()
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        timings.append(time.perf_counter() - started)
    return timings


def percentile(timings: list[float], quantile: float) -> float:
    """The ``quantile`` of ``timings``, in microseconds."""
    return sorted(timings)[int(quantile * (len(timings) - 1))] * 1e6
