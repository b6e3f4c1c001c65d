"""Noticing a missing trusted-proxy setting from the calls themselves.

Behind a proxy, a load balancer or a mesh sidecar that is not listed in
``APP_GRPC__TRUSTED_PROXIES``, every call seems to come from the proxy: all
clients share one throttle bucket and ListSessions shows the proxy. Two signs
of that are watched, each logged once per process and counted:

- a call carries ``x-forwarded-for`` from a peer that is not a trusted proxy
  (the header is ignored; ``grpc_untrusted_forwarded_for_total`` counts them);
- with no trusted proxies set, every call of a window of calls came from one
  address (``grpc_client_addresses_distinct`` is the number of distinct
  addresses in the last complete window).

The window is counted in calls, not time, so the hot path reads no clock:
per call, one set insertion and one integer increment, no lock.
"""

from __future__ import annotations

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

logger = structlog.get_logger(__name__)

WINDOW_CALLS = 1024
PROXIES_SETTING = "APP_GRPC__TRUSTED_PROXIES"


class AddressWatch:
    """Sees each call's client address; warns once when the addresses look like a proxy's."""

    def __init__(
        self,
        registry: CollectorRegistry | None,
        *,
        proxies_trusted: bool,
        window_calls: int = WINDOW_CALLS,
    ) -> None:
        self._proxies_trusted = proxies_trusted
        self._window_calls = window_calls
        self._addresses: set[str] = set()
        self._calls = 0
        self._warned_one_address = False
        self._warned_forwarding = False
        self._distinct = Gauge(
            "grpc_client_addresses_distinct",
            "Distinct client addresses among the last window of calls"
            " (1 with many clients: a proxy in front that is not a trusted proxy).",
            registry=registry,
        )
        self._ignored_forwarding = Counter(
            "grpc_untrusted_forwarded_for",
            "Calls whose x-forwarded-for was ignored: the peer is not a trusted proxy.",
            registry=registry,
        )

    def saw(self, address: str, ignored_forwarding: bool) -> None:
        """One call from ``address``; ``ignored_forwarding``: its x-forwarded-for was ignored."""
        if ignored_forwarding:
            self._ignored_forwarding.inc()
            if not self._warned_forwarding:
                self._warned_forwarding = True
                logger.warning(
                    "x-forwarded-for from a peer that is not a trusted proxy is ignored;"
                    " if a proxy is in front, list it",
                    peer=address,
                    setting=PROXIES_SETTING,
                )
        self._addresses.add(address)
        self._calls += 1
        if self._calls >= self._window_calls:
            self._end_window()

    def _end_window(self) -> None:
        distinct = len(self._addresses)
        self._distinct.set(distinct)
        self._addresses.clear()
        self._calls = 0
        if distinct == 1 and not self._proxies_trusted and not self._warned_one_address:
            self._warned_one_address = True
            logger.warning(
                "every recent call came from one address and no trusted proxies are set;"
                " if a proxy is in front, list it, or all clients share one throttle",
                calls=self._window_calls,
                setting=PROXIES_SETTING,
            )
