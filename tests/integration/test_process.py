"""The processes as `make run`, `make worker` and `make relay` start them.

Each starts from the settings alone, reports that it is up, and stops cleanly
on SIGTERM with exit status 0.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal

import pytest

from app.config import Settings
from tests.support.processes import process_environment, read_until, start_process


@pytest.mark.parametrize(
    ("command", "ready_event", "stopped_event"),
    [
        ("serve", "serving", "stopped"),
        ("worker", "audit-log worker started", "audit-log worker stopped"),
        ("relay", "relay process started", "relay process stopped"),
    ],
)
async def test_the_process_starts_then_stops_gracefully_on_sigterm(
    settings: Settings, application, command, ready_event, stopped_event
):
    environment = process_environment(
        settings,
        APP_METRICS__HOST="127.0.0.1",
        APP_METRICS__PORT="0",
        APP_EVENTS__BLOCK_MILLISECONDS="100",
    )
    process = await start_process([command], environment)
    seen: list[str] = []
    try:
        await asyncio.wait_for(read_until(process, ready_event, seen), timeout=60)
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = "".join(seen) + rest.decode()
    assert process.returncode == 0, log
    assert '"level": "error"' not in log
    assert '"level": "warning"' not in log
    assert "Observability initialized" not in log
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    names = [event["event"] for event in events]
    assert stopped_event in names
    assert names.index(stopped_event) > names.index(ready_event)
    started = events[names.index(ready_event)]
    if command == "serve":
        # One line says where each port listens, host and port, as a client dials it.
        assert started["grpc"] == f"127.0.0.1:{environment['APP_GRPC__PORT']}"
        assert started["http"] == f"127.0.0.1:{environment['APP_HTTP__PORT']}"
        assert re.fullmatch(r"127\.0\.0\.1:[1-9][0-9]*", started["metrics"])
    else:
        assert started["stream"] == f"{settings.redis.key_prefix}events:users"
        if command == "relay":
            # Whether a relay beside others is fine is said once, when it starts.
            assert "SKIP LOCKED" in started["other_relays"]
            assert "other_relays" not in events[names.index(stopped_event)]
        if command == "worker":
            assert started["group"] == "audit-log"
