"""Second-factor verification counters on the application's registry (``FactorMetrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from app.domain.second_factor import CodeKind, VerificationOutcome


class PrometheusFactorMetrics:
    """Satisfies ``FactorMetrics``: ``mfa_verifications_total{kind, outcome}``.

    Every pair of labels is created at zero on start, so a dashboard and an alert
    on wrong or throttled codes see each before the first one happens.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._verifications = Counter(
            "mfa_verifications",
            "Second-factor codes checked, by kind (totp, recovery) and outcome",
            ["kind", "outcome"],
            registry=registry,
        )
        for kind in CodeKind:
            for outcome in VerificationOutcome:
                self._verifications.labels(kind.value, outcome.value)

    def verification(self, kind: CodeKind, outcome: VerificationOutcome) -> None:
        self._verifications.labels(kind.value, outcome.value).inc()


class NoFactorMetrics:
    """Satisfies ``FactorMetrics`` when metrics are off: counts nothing."""

    def verification(self, kind: CodeKind, outcome: VerificationOutcome) -> None:
        return None
