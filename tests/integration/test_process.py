"""The service as `make run` starts it: a process that serves and stops cleanly on a signal."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _wait_serving(port: int, process: asyncio.subprocess.Process) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(150):
            assert process.returncode is None, "the service exited during start-up"
            try:
                response = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("the service never became SERVING")


async def test_the_process_serves_then_stops_gracefully_on_sigterm(settings: Settings, application):
    port = _free_port()
    environment = {
        **os.environ,
        "APP_CONFIG_FILE": str(ROOT / "config" / "local.yaml"),
        "APP_GRPC__HOST": "127.0.0.1",
        "APP_GRPC__PORT": str(port),
        "APP_POSTGRES__DSN": settings.postgres.dsn.get_secret_value(),
        "APP_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "APP_METRICS__ENABLED": "false",
        "APP_EVENTS__RELAY_ENABLED": "false",
        "APP_LOGGING__FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.main",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await _wait_serving(port, process)
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output.decode()
    log = output.decode()
    assert '"event": "serving"' in log
    assert '"event": "shutting down"' in log
    assert '"event": "stopped"' in log
