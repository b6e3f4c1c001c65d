"""The audit-log worker (``make worker``), built as its process builds it."""

from __future__ import annotations

import asyncio
import uuid

from app.bootstrap import build_audit_worker
from tests.support.application import make_settings
from tests.support.client import eventually, registered_session
from tests.support.metrics import scrape


async def test_the_worker_projects_each_event_into_the_audit_log_once(stub, application):
    worker = await build_audit_worker(
        make_settings(
            events={"group": f"audit-{uuid.uuid4().hex[:8]}", "block_milliseconds": 50},
        )
    )
    task = asyncio.create_task(worker.run())
    try:
        user, _ = await registered_session(stub)

        async def logged_in_row() -> bool:
            count = await application.pool.fetchval(
                "SELECT count(*) FROM user_audit_log"
                " WHERE user_id = $1 AND event_type = 'user.logged_in'",
                uuid.UUID(user.uuid),
            )
            return bool(count == 1)

        await eventually(logged_in_row)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    assert task.done() and task.exception() is None


async def test_the_workers_metrics_serve_its_consumer_group(stub, application):
    group = f"audit-{uuid.uuid4().hex[:8]}"
    worker = await build_audit_worker(
        make_settings(
            events={"group": group, "block_milliseconds": 50, "claim_interval_seconds": 0.05},
            metrics={"enabled": True},
        )
    )
    task = asyncio.create_task(worker.run())
    try:
        await registered_session(stub)

        async def handled_and_reported() -> bool:
            port = worker.resources.telemetry.metrics_port
            if not port:  # not started yet
                return False
            samples = await scrape(port)
            return any(
                sample.name == "events_consumer_handled_total"
                and sample.labels.get("group") == group
                and sample.value > 0
                for sample in samples
            ) and any(sample.name == "events_consumer_group_lag" for sample in samples)

        await eventually(handled_and_reported)
        port = worker.resources.telemetry.metrics_port
        assert port
        names = {sample.name for sample in await scrape(port)}
        assert {"events_consumer_handler_seconds_count", "process_cpu_seconds_total"} <= names
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
