"""``throttled_attempts``: the attempts the login throttle refused, as its adapter reports them."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter


class ThrottleMetrics:
    """Refused attempts by action (login, register…) and scope (account, address).

    Without a registry (metrics off) the counter exists but is exported nowhere.
    """

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._refused = Counter(
            "throttled_attempts",
            "Attempts refused by the throttle, by action and by the limit that refused them",
            ["action", "scope"],
            registry=registry,
        )

    def initialize(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Export zeros for these (action, scope) pairs before their first refusal."""
        for action, scope in pairs:
            self._refused.labels(action, scope)

    def refused(self, action: str, scope: str) -> None:
        self._refused.labels(action, scope).inc()
