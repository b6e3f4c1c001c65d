"""The relay outlives a store that does not answer: it backs off, logs, and carries on."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.errors import Store, StoreUnavailable
from app.domain.event_ports import PublishBatch
from app.domain.events import Event
from app.usecases.relay import OutboxRelay
from tests.support.events import sample_event
from tests.support.logs import captured_logs
from tests.unit.fakes import FakeOutboxBatches

POLL_SECONDS = 0.001


class Publisher:
    def __init__(self) -> None:
        self.published: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.published += events


class FlakyOutbox(FakeOutboxBatches):
    """Fails ``outage`` rounds in a row, then answers; stops the relay once it is empty."""

    def __init__(self, outage: int) -> None:
        super().__init__()
        self.outage = outage
        self.relay: OutboxRelay | None = None

    async def publish_next(self, limit: int, publish: PublishBatch) -> int:
        if self.outage:
            self.outage -= 1
            raise StoreUnavailable(Store.POSTGRESQL) from ConnectionError("refused")
        published = await super().publish_next(limit, publish)
        if not self.pending and self.relay is not None:
            self.relay.stop()
        return published


async def test_the_relay_waits_twice_as_long_after_each_failure_then_publishes_everything():
    outbox = FlakyOutbox(outage=3)
    events = [sample_event() for _ in range(3)]
    outbox.pending = list(events)
    publisher = Publisher()
    relay = OutboxRelay(outbox, publisher, batch_size=2, poll_interval_seconds=POLL_SECONDS)
    outbox.relay = relay
    with captured_logs("WARNING") as logs:
        await relay.run()
    failures = logs.events("outbox relay failed")
    assert [line["retry_in"] for line in failures] == [0.002, 0.004, 0.008]
    assert {line["error"] for line in failures} == {"ConnectionError('refused')"}
    assert {line["logger"] for line in failures} == {"app.usecases.relay"}
    assert publisher.published == events
