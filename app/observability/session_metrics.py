"""Login and session counters on the application's registry (``SessionMetrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from app.domain.ports import LoginOutcome
from app.domain.sessions import SessionEndReason


class PrometheusSessionMetrics:
    """Satisfies ``SessionMetrics``.

    Every label value is created at zero on start, so dashboards and alerts
    see each outcome and reason before the first one happens. A session that
    idles out is dropped by Redis without the service noticing: idle expiry
    is not counted.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._logins = Counter(
            "user_logins", "Login attempts, by outcome", ["outcome"], registry=registry
        )
        self._created = Counter(
            "user_sessions_created", "Sessions created (successful logins)", registry=registry
        )
        self._ended = Counter(
            "user_sessions_ended",
            "Sessions ended by the service, by reason (idle expiry is silent)",
            ["reason"],
            registry=registry,
        )
        for outcome in LoginOutcome:
            self._logins.labels(outcome.value)
        for reason in SessionEndReason:
            self._ended.labels(reason.value)

    def login(self, outcome: LoginOutcome) -> None:
        self._logins.labels(outcome.value).inc()

    def session_created(self) -> None:
        self._created.inc()

    def sessions_ended(self, reason: SessionEndReason, count: int = 1) -> None:
        if count > 0:
            self._ended.labels(reason.value).inc(count)


class NoSessionMetrics:
    """Satisfies ``SessionMetrics`` when metrics are off: counts nothing."""

    def login(self, outcome: LoginOutcome) -> None:
        return None

    def session_created(self) -> None:
        return None

    def sessions_ended(self, reason: SessionEndReason, count: int = 1) -> None:
        return None
