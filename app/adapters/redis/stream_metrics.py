"""Prometheus metrics of stream consumers, on the registry they are given.

Labelled by stream key and consumer group only: both are configuration, so
the label sets stay few and carry nothing secret. The composition root makes
one :class:`StreamMetrics` per application on its telemetry's registry (served
at /metrics); without a registry (metrics off, tests) they count for no one.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LABELS = ("stream", "group")
HANDLER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class ConsumerMetrics:
    """The metrics of one (stream, group), with their labels bound."""

    handled: Counter
    failed: Counter
    dead_lettered: Counter
    handler_seconds: Histogram
    lag: Gauge
    pending: Gauge


class StreamMetrics:
    """The stream consumers' metric families on one registry (None: exported nowhere)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._handled = Counter(
            "events_consumer_handled_total",
            "Events handled and acknowledged.",
            _LABELS,
            registry=registry,
        )
        self._failed = Counter(
            "events_consumer_failed_total",
            "Event deliveries whose handler raised.",
            _LABELS,
            registry=registry,
        )
        self._dead_lettered = Counter(
            "events_consumer_dead_lettered_total",
            "Events moved to the dead-letter stream.",
            _LABELS,
            registry=registry,
        )
        self._handler_seconds = Histogram(
            "events_consumer_handler_seconds",
            "Time in one handler call (a batch of events).",
            _LABELS,
            buckets=HANDLER_BUCKETS,
            registry=registry,
        )
        self._lag = Gauge(
            "events_consumer_group_lag",
            "Entries in the stream not yet delivered to the group.",
            _LABELS,
            registry=registry,
        )
        self._pending = Gauge(
            "events_consumer_group_pending",
            "Entries delivered to the group, not yet acknowledged.",
            _LABELS,
            registry=registry,
        )

    def consumer(self, stream: str, group: str) -> ConsumerMetrics:
        """The metrics of the consumers of ``stream`` in ``group``."""
        labels = {"stream": stream, "group": group}
        return ConsumerMetrics(
            handled=self._handled.labels(**labels),
            failed=self._failed.labels(**labels),
            dead_lettered=self._dead_lettered.labels(**labels),
            handler_seconds=self._handler_seconds.labels(**labels),
            lag=self._lag.labels(**labels),
            pending=self._pending.labels(**labels),
        )
