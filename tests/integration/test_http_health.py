"""``/healthz`` and ``/readyz`` on the plaintext HTTP port, beside ``/metrics``.

Through a real service on the run's stores: ready while the stores answer,
503 once it drains; and the same reporter on a store that does not answer.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry

from app.grpc.health import HealthReporter
from app.lifecycle import Application
from app.observability.setup.http_endpoint import MetricsEndpoint
from tests.support.application import running_application


def get(port: int, path: str) -> tuple[int, str, str]:
    """Status, content type and body of ``GET path``, 4xx and 5xx included."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers["Content-Type"], refused.read().decode()


async def fetch(port: int, path: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(get, port, path)


async def test_the_http_port_answers_liveness_readiness_and_metrics_each_on_its_path(
    application: Application,
) -> None:
    async with running_application(metrics={"enabled": True}) as service:
        assert service.metrics_port
        alive = await fetch(service.metrics_port, "/healthz")
        ready = await fetch(service.metrics_port, "/readyz")
        metrics = await fetch(service.metrics_port, "/metrics")
        unknown = await fetch(service.metrics_port, "/health")

    assert alive[:2] == (200, "application/json")
    assert json.loads(alive[2]) == {"status": "alive"}
    assert ready[0] == 200
    assert json.loads(ready[2]) == {"status": "serving"}
    assert metrics[0] == 200
    assert "grpc_server_started_total" in metrics[2] or "process_cpu_seconds_total" in metrics[2]
    assert "# TYPE" not in alive[2] + ready[2]
    assert unknown[0] == 404
    assert json.loads(unknown[2])["paths"] == ["/metrics", "/healthz", "/readyz"]


async def test_readiness_turns_503_draining_from_the_first_moment_of_a_drain(
    application: Application,
) -> None:
    async with running_application(metrics={"enabled": True}) as service:
        assert service.metrics_port
        port = service.metrics_port
        stopping = asyncio.create_task(service.stop(grace=0.1, drain=1.0))
        await asyncio.sleep(0.3)  # within the drain: still serving gRPC, not ready
        during = await fetch(port, "/readyz")
        alive = await fetch(port, "/healthz")
        await stopping

    assert during[0] == 503
    assert json.loads(during[2]) == {"status": "draining"}
    assert alive[0] == 200


async def test_readiness_names_the_store_that_does_not_answer() -> None:
    async def answers() -> None:
        return None

    async def refuses() -> None:
        raise ConnectionRefusedError("nothing listens")

    reporter = HealthReporter([("postgres", refuses), ("redis", answers)], interval=60, timeout=1)
    endpoint = MetricsEndpoint(CollectorRegistry(), host="127.0.0.1", port=0)
    endpoint.readiness = reporter.readiness
    endpoint.start()
    try:
        await reporter.check()
        status, kind, body = await fetch(endpoint.port, "/readyz")
    finally:
        endpoint.stop()

    assert (status, kind) == (503, "application/json")
    assert json.loads(body) == {"status": "not serving", "failing": ["postgres"]}
