"""A health change names the store's address, never its credentials.

Runs against a throwaway ``redis-server`` of its own on a free loopback port,
which it kills; the shared servers are not touched.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.application import ApplicationFactory
from tests.support.logs import LogLines, captured_logs
from tests.support.ports import answers, free_port

PASSWORD = "s3cret-in-the-url"


@pytest.fixture
def own_redis() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server binary")
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                directory,
                "--requirepass",
                PASSWORD,
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not answers(port, timeout=0.2):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        try:
            yield process, port
        finally:
            process.kill()
            process.wait()


async def test_a_failing_store_is_logged_with_its_address(
    make_application: ApplicationFactory, own_redis: tuple[subprocess.Popen[bytes], int]
) -> None:
    process, port = own_redis
    with captured_logs() as log:
        await make_application(
            redis={"url": f"redis://:{PASSWORD}@127.0.0.1:{port}/0", "socket_timeout_seconds": 0.5},
            health={"check_interval_seconds": 0.1, "check_timeout_seconds": 0.3},
        )
        process.kill()
        deadline = time.monotonic() + 15
        while not changes(log):
            assert time.monotonic() < deadline, log.text
            await asyncio.sleep(0.05)

    [change] = changes(log)
    assert change["failing"] == [f"redis at 127.0.0.1:{port}"]
    assert PASSWORD not in log.text


def changes(log: LogLines) -> list[dict[str, Any]]:
    """The health lines that say the service stopped serving."""
    return [
        line
        for line in (json.loads(text) for text in log.text.splitlines())
        if line.get("logger") == "app.grpc.health" and line.get("serving") is False
    ]
