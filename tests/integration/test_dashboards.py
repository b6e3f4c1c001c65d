"""Every dashboard query returns data from a real Prometheus scraping the service.

A ``prometheus`` binary (Debian package ``prometheus``) is started on a free
port with its own configuration and data directory, scrapes the test service
every second while a workload runs, and then each PromQL expression of each
dashboard in ``grafana/dashboards/`` is evaluated through its HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis.exceptions

from app.bootstrap import build_audit_worker
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import make_settings, running_application
from tests.support.client import login, unique_email
from tests.support.mail import Mailbox, SmtpServer, queue_message, sample_message, smtp_server
from tests.support.ports import free_port
from tests.support.workload import workload

pytestmark = pytest.mark.prometheus

DASHBOARDS = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"
# Grafana's own variables, as Grafana would fill them in for a short range.
GRAFANA_VARIABLES = {"$__rate_interval": "20s", "$__interval": "5s"}


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expression) of every target of every dashboard."""
    queries = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                queries.append((path.name, panel["title"], target["expr"]))
    return queries


def prometheus_binary() -> str:
    binary = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if binary is None:
        reason = "no prometheus binary (Debian: apt-get install prometheus)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}: CI must provide it")
        pytest.skip(f"{reason}; CI runs this test")
    return binary


class Prometheus:
    """A prometheus process of the test's own, and its HTTP API."""

    def __init__(self, binary: str, target_ports: dict[str, int], workdir: Path) -> None:
        """Scrape each job's ``/metrics`` on its port (job name → port)."""
        self.port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            + "".join(
                f"  - job_name: {job}\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
                for job, port in target_ports.items()
            )
        )
        self._log = (workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str, **parameters: str) -> Any:
        query = urllib.parse.urlencode(parameters)
        url = f"http://127.0.0.1:{self.port}{path}?{query}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    def query(self, expression: str) -> list[Any]:
        body = self.get("/api/v1/query", query=expression)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="prometheus-") as directory:
        yield Path(directory)


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[SmtpServer]:
    """An SMTP server that takes mail but refuses one recipient and defers another."""
    refuse = {REFUSED_RECIPIENT: "550 5.1.1 no such user", DEFERRED_RECIPIENT: "451 4.3.0 busy"}
    with smtp_server(Mailbox(refuse=refuse)) as server:
        yield server


REFUSED_RECIPIENT, DEFERRED_RECIPIENT = "refused@example.com", "deferred@example.com"


async def queue_mail_of_each_outcome(application: Application) -> None:
    for recipient in (None, REFUSED_RECIPIENT, DEFERRED_RECIPIENT):
        await queue_message(application.pool, sample_message(recipient=recipient))


@pytest.fixture(scope="module")
async def scraped(
    application: Application, workdir: Path, smtp_sink: SmtpServer
) -> AsyncIterator[Prometheus]:
    """The service under a workload, scraped by a real Prometheus for a few seconds."""
    binary = prometheus_binary()
    # The relay runs in the service, an audit worker beside it; as in
    # deploy/prometheus, each process's /metrics is a job of its own.
    events = {"relay_enabled": True, "claim_interval_seconds": 0.5, "block_milliseconds": 100}
    worker = await build_audit_worker(make_settings(events=events, metrics={"enabled": True}))
    consuming = asyncio.create_task(worker.run())
    mail = {"smtp_url": smtp_sink.url(), "poll_interval_seconds": 0.1, "retry_first_seconds": 60}
    async with running_application(
        metrics={"enabled": True}, events=events, throttling=DASHBOARD_THROTTLING, mail=mail
    ) as metered:
        assert metered.metrics_port and worker.resources.telemetry.metrics_port
        targets = {
            "user-service": metered.metrics_port,
            "user-service-worker": worker.resources.telemetry.metrics_port,
        }
        prometheus = Prometheus(binary, targets, workdir)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{metered.port}") as channel:
                stub = pb_grpc.UserServiceStub(channel)
                await wait_for_samples(prometheus, f"count(up == 1) == {len(targets)}", None)
                await queue_mail_of_each_outcome(metered)
                for _ in range(3):
                    await workload(stub)
                    await cause_a_redis_error(metered)
                    await cause_a_throttled_login(stub)
                    await asyncio.sleep(1)
                # Two scrapes after the workload, so every rate() has its two points.
                await wait_for_samples(prometheus, "grpc_server_started_total", None, scrapes=2)
            yield prometheus
        finally:
            prometheus.stop()
            worker.stop()
            await consuming


# One free failure per account: the second wrong login on an account is refused.
DASHBOARD_THROTTLING = {
    "account_free_failures": 1,
    "first_wait_seconds": 60.0,
    "address_free_failures": 1_000_000,
    "register_per_address_per_minute": 1_000_000,
}


async def cause_a_throttled_login(stub: pb_grpc.UserServiceAsyncStub) -> None:
    email = unique_email("throttled")
    codes = []
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await login(stub, email, "not the password")
        codes.append(refused.value.code())
    assert codes == [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED]


async def cause_a_redis_error(application: Application) -> None:
    key = f"{application.settings.redis.key_prefix}dashboard:not-a-list"
    await application.redis.set(key, "x")
    with pytest.raises(redis.exceptions.ResponseError):
        await application.redis.lpush(key, "x")


async def wait_for_samples(
    prometheus: Prometheus, expression: str, value: str | None, scrapes: int = 1
) -> None:
    """Wait (bounded) until ``expression`` has data, then ``scrapes`` more scrape intervals."""
    deadline = time.monotonic() + 30
    while True:
        assert prometheus.process.poll() is None, "prometheus exited; see its log"
        try:
            result = await asyncio.to_thread(prometheus.query, expression)
        except OSError:
            result = []
        if result and (value is None or result[0]["value"][1] == value):
            break
        assert time.monotonic() < deadline, f"prometheus never saw {expression}"
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.1 * scrapes)


def test_every_dashboard_has_queries() -> None:
    names = {name for name, _, _ in dashboard_queries()}
    assert names == {
        "events.json",
        "grpc-server.json",
        "redis-client.json",
        "postgresql-pool.json",
        "process.json",
    }


@pytest.mark.parametrize(
    ("dashboard", "panel", "expression"),
    dashboard_queries(),
    ids=[f"{name}:{title}:{n}" for n, (name, title, _) in enumerate(dashboard_queries())],
)
async def test_dashboard_query_returns_data(
    scraped: Prometheus, dashboard: str, panel: str, expression: str
) -> None:
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)

    result = await asyncio.to_thread(scraped.query, expression)

    assert result, f"{dashboard} / {panel}: no data for {expression}"
