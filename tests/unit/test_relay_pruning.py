"""The relay prunes published events: bounded batches, at its interval, at once while full."""

from __future__ import annotations

from app.usecases.relay import OutboxRelay, Pruning
from tests.unit.fakes import FakeOutboxBatches, NoPublisher

RETENTION = 7 * 24 * 3600.0


def relay(outbox: FakeOutboxBatches, interval: float) -> OutboxRelay:
    return OutboxRelay(
        outbox,
        NoPublisher(),
        batch_size=10,
        poll_interval_seconds=0.01,
        pruning=Pruning(retention_seconds=RETENTION, interval_seconds=interval, batch_size=4),
    )


async def test_full_batches_are_pruned_back_to_back_then_the_relay_waits_its_interval():
    outbox = FakeOutboxBatches(prunable=10)
    pruner = relay(outbox, interval=3600)
    deleted = [await pruner.prune_if_due() for _ in range(5)]
    assert deleted == [4, 4, 2, 0, 0]
    # The short batch (2) ends the round: the next prune waits an hour.
    assert outbox.prune_calls == [(RETENTION, 4)] * 3


async def test_without_pruning_configured_nothing_is_deleted():
    outbox = FakeOutboxBatches(prunable=10)
    plain = OutboxRelay(outbox, NoPublisher(), batch_size=10, poll_interval_seconds=0.01)
    assert await plain.prune_if_due() == 0
    assert outbox.prune_calls == []
