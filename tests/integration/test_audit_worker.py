"""The audit-log worker (``make worker``), built as its process builds it."""

from __future__ import annotations

import asyncio
import uuid

from app.bootstrap import build_audit_worker
from tests.support.application import make_settings
from tests.support.client import eventually, registered_session


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
