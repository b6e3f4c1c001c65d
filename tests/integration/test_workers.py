"""The service with two worker processes on one port, started as ``make run`` starts it.

Both workers answer on the port, the supervisor's ``/metrics`` counts the
calls of both, SIGTERM stops everything with exit status 0, and a worker
killed with SIGKILL makes the supervisor stop the other and exit 1. No worker
outlives its supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from app.config import Settings
from tests.support.metrics import scrape, value
from tests.support.processes import process_environment, start_process

WORKERS = 2


@dataclass
class Supervisor:
    process: asyncio.subprocess.Process
    log: Path
    port: int
    metrics_port: int
    worker_pids: list[int]

    def events(self, event: str) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        parsed = [json.loads(line) for line in lines if line.startswith("{")]
        return [line for line in parsed if line.get("event") == event]


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def wait_for_event(
    log: Path, event: str, process: asyncio.subprocess.Process
) -> dict[str, Any]:
    async with asyncio.timeout(120):
        while True:
            for line in log.read_text().splitlines():
                if line.startswith("{") and json.loads(line).get("event") == event:
                    return dict(json.loads(line))
            assert process.returncode is None, log.read_text()
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def supervisor(settings: Settings, directory: Path) -> AsyncIterator[Supervisor]:
    environment = process_environment(
        settings,
        APP_GRPC__WORKERS=str(WORKERS),
        APP_GRPC__DRAIN_SECONDS="0.1",
        APP_METRICS__HOST="127.0.0.1",
        APP_METRICS__PORT="0",
    )
    log = directory / "service.log"
    with log.open("wb") as output:
        process = await start_process(["serve"], environment, output)
    try:
        serving = await wait_for_event(log, "workers serving", process)
        yield Supervisor(
            process,
            log,
            int(environment["APP_GRPC__PORT"]),
            serving["metrics_port"],
            serving["workers"],
        )
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def health_checks(port: int, calls: int) -> None:
    """``calls`` Health/Check calls on one channel."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(calls):
            response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_both_workers_answer_and_metrics_count_the_calls_of_both(
    settings: Settings, application, tmp_path
):
    async with supervisor(settings, tmp_path) as service:
        assert len(service.worker_pids) == WORKERS
        made = 0
        answered: set[str] = set()
        # One channel keeps its connection (one worker); fresh channels are new
        # connections, which the kernel spreads among the workers.
        while answered != {"0", "1"} and made < 400:
            await health_checks(service.port, 5)
            made += 5
            samples = await scrape(service.metrics_port)
            answered = {
                sample.labels["worker"]
                for sample in samples
                if sample.name == "grpc_server_handled_total"
                and sample.labels["grpc_method"] == "Check"
                and sample.value > 0
            }
        assert answered == {"0", "1"}
        samples = await scrape(service.metrics_port)
        assert value(samples, "grpc_server_handled_total", grpc_method="Check") == made
        for worker in ("0", "1"):
            assert value(samples, "pg_pool_size", worker=worker) >= 1

        service.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(service.process.wait(), timeout=60) == 0
        assert service.events("workers stopped")[0]["clean"] is True
    assert not [pid for pid in service.worker_pids if is_running(pid)]
    assert '"level": "error"' not in service.log.read_text()


async def test_a_worker_killed_makes_the_supervisor_stop_the_other_and_exit_non_zero(
    settings: Settings, application, tmp_path
):
    async with supervisor(settings, tmp_path) as service:
        killed, other = service.worker_pids
        os.kill(killed, signal.SIGKILL)
        assert await asyncio.wait_for(service.process.wait(), timeout=60) == 1
        exited = service.events("worker exited, stopping the others")
        assert [event["pid"] for event in exited] == [killed]
        assert exited[0]["exit_code"] == -signal.SIGKILL
    assert not is_running(other)


async def test_the_workers_stop_by_themselves_when_the_supervisor_is_killed(
    settings: Settings, application, tmp_path
):
    async with supervisor(settings, tmp_path) as service:
        service.process.kill()
        await service.process.wait()
        async with asyncio.timeout(60):
            while running := [pid for pid in service.worker_pids if is_running(pid)]:
                await asyncio.sleep(0.2)
        assert not running
