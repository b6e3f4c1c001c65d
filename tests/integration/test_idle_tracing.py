"""Quiet when idle: the relay's polls that find nothing leave no trace; work still does."""

from __future__ import annotations

import uuid

from app.adapters.postgres.outbox import OutboxPgRepository
from app.bootstrap import build_relay
from tests.support.events import sample_event
from tests.support.tracing import traced_service

POLLS = 5


async def test_idle_polls_make_no_trace_and_a_poll_with_work_makes_one():
    async with traced_service() as service:
        application = service.application
        relay = build_relay(application.settings, application.pool, application.redis)
        for _ in range(1000):  # what earlier tests left waiting
            if await relay.relay_once() == 0:
                break
        service.finished_spans()
        service.exporter.clear()

        for _ in range(POLLS):
            assert await relay.relay_once() == 0
            await relay.prune_if_due()
        assert [span.name for span in service.finished_spans()] == []

        await OutboxPgRepository(application.pool).add(sample_event(uuid.uuid4()))
        service.finished_spans()
        service.exporter.clear()
        assert await relay.relay_once() == 1
        spans = service.finished_spans()
        [root] = [span for span in spans if span.name == "OutboxPgRepository.publish_next"]
        children = [
            span for span in spans if span.parent and span.parent.span_id == root.context.span_id
        ]
        # The work keeps its whole trace: the claim, the publishing and the commit.
        assert len(children) >= 3
        assert all(span.context.trace_id == root.context.trace_id for span in spans)
