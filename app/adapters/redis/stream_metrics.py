"""Prometheus metrics of stream consumers, on the default registry (served at /metrics).

Labelled by stream key and consumer group only: both are configuration, so
the label sets stay few and carry nothing secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

_LABELS = ("stream", "group")

HANDLED = Counter("events_consumer_handled_total", "Events handled and acknowledged.", _LABELS)
FAILED = Counter("events_consumer_failed_total", "Event deliveries whose handler raised.", _LABELS)
DEAD_LETTERED = Counter(
    "events_consumer_dead_lettered_total", "Events moved to the dead-letter stream.", _LABELS
)
HANDLER_SECONDS = Histogram(
    "events_consumer_handler_seconds",
    "Time in one handler call (a batch of events).",
    _LABELS,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
GROUP_LAG = Gauge(
    "events_consumer_group_lag", "Entries in the stream not yet delivered to the group.", _LABELS
)
GROUP_PENDING = Gauge(
    "events_consumer_group_pending",
    "Entries delivered to the group, not yet acknowledged.",
    _LABELS,
)


@dataclass(frozen=True)
class ConsumerMetrics:
    """The metrics of one (stream, group), with their labels bound."""

    handled: Counter
    failed: Counter
    dead_lettered: Counter
    handler_seconds: Histogram
    lag: Gauge
    pending: Gauge

    @classmethod
    def of(cls, stream: str, group: str) -> ConsumerMetrics:
        labels = {"stream": stream, "group": group}
        return cls(
            handled=HANDLED.labels(**labels),
            failed=FAILED.labels(**labels),
            dead_lettered=DEAD_LETTERED.labels(**labels),
            handler_seconds=HANDLER_SECONDS.labels(**labels),
            lag=GROUP_LAG.labels(**labels),
            pending=GROUP_PENDING.labels(**labels),
        )
