"""PartitionedConsumer: one consumer group member on every partition of the events.

Each stream of :attr:`EventStreams.consumed` gets its own
:class:`~app.adapters.redis.stream_consumer.StreamConsumer` (its group, its
pending entries, its claims and dead letters, all in the stream's own slot),
run side by side: no command ever names two streams, so none crosses slots on
a Redis Cluster. Within a partition a batch is handled before the next is
read, so a user's events (all in one partition) are handled in order; the
partitions run concurrently. A blocked read holds a connection, so the
client's pool needs one per consumed stream.
"""

from __future__ import annotations

import asyncio

from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.stream_consumer import ConsumerOptions, Handler, StreamConsumer
from app.adapters.redis.stream_metrics import StreamMetrics
from app.adapters.redis.streams import EventStreams


class PartitionedConsumer:
    """Consumes every stream of ``streams`` in ``options.group``, feeding ``handler``."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        streams: EventStreams,
        handler: Handler,
        options: ConsumerOptions,
        metrics: StreamMetrics | None = None,
    ) -> None:
        shared_metrics = metrics or StreamMetrics(None)
        self.consumers = [
            StreamConsumer(
                redis, stream_key=key, handler=handler, options=options, metrics=shared_metrics
            )
            for key in streams.consumed
        ]

    async def ensure_group(self) -> None:
        """Create the group on every stream (and the streams) unless they exist."""
        for consumer in self.consumers:
            await consumer.ensure_group()

    async def run(self) -> None:
        """Consume every stream until :meth:`stop`; if one consumer fails, all stop."""
        tasks = [asyncio.create_task(consumer.run()) for consumer in self.consumers]
        try:
            await asyncio.gather(*tasks)
        finally:
            self.stop()
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Stop reading; :meth:`run` returns once every batch in hand is done."""
        for consumer in self.consumers:
            consumer.stop()
