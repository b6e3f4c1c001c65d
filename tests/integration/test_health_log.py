"""A health change names the store's address, never its credentials.

Runs against a throwaway ``redis-server`` of its own on a free loopback port,
which it kills; the shared servers are not touched.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.conftest import ApplicationFactory
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
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger("app.grpc.health").addHandler(handler)
    try:
        await make_application(
            redis={"url": f"redis://:{PASSWORD}@127.0.0.1:{port}/0", "socket_timeout_seconds": 0.5},
            health={"check_interval_seconds": 0.1, "check_timeout_seconds": 0.3},
        )
        process.kill()
        deadline = time.monotonic() + 15
        while "'serving': False" not in log.getvalue():
            assert time.monotonic() < deadline, log.getvalue()
            await asyncio.sleep(0.05)
    finally:
        logging.getLogger("app.grpc.health").removeHandler(handler)

    [change] = [line for line in log.getvalue().splitlines() if "'serving': False" in line]
    assert f"'failing': ['redis at 127.0.0.1:{port}']" in change
    assert PASSWORD not in log.getvalue()
