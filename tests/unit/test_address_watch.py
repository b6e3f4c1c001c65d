"""Noticing a missing trusted-proxy setting: one warning each, and the metrics."""

from __future__ import annotations

import ipaddress

from prometheus_client import CollectorRegistry

from app.grpc.address_watch import AddressWatch
from app.grpc.metadata import ClientReader
from tests.support.logs import captured_logs

ONE_ADDRESS = "every recent call came from one address and no trusted proxies are set;" + (
    " if a proxy is in front, list it, or all clients share one throttle"
)
IGNORED = (
    "x-forwarded-for from a peer that is not a trusted proxy is ignored;"
    " if a proxy is in front, list it"
)
FORWARDED = [("x-forwarded-for", "203.0.113.9")]


def _reader(trusted: bool = False, window_calls: int = 4) -> tuple[ClientReader, CollectorRegistry]:
    registry = CollectorRegistry()
    proxies = (ipaddress.ip_network("10.0.0.0/8"),) if trusted else ()
    watch = AddressWatch(registry, proxies_trusted=trusted, window_calls=window_calls)
    return ClientReader(proxies, watch), registry


def test_calls_all_from_one_address_warn_once_and_show_in_the_gauge():
    read, registry = _reader()
    with captured_logs("WARNING") as logs:
        for _ in range(12):
            read(None, "ipv4:10.0.0.5:1")
    assert registry.get_sample_value("grpc_client_addresses_distinct") == 1
    [warning] = logs.events(ONE_ADDRESS)
    assert warning["setting"] == "APP_GRPC__TRUSTED_PROXIES"


def test_calls_from_several_addresses_do_not_warn():
    read, registry = _reader()
    with captured_logs("WARNING") as logs:
        for index in range(12):
            read(None, f"ipv6:%5B2001:db8::{index % 2}%5D:1")
    assert registry.get_sample_value("grpc_client_addresses_distinct") == 2
    assert logs.events(ONE_ADDRESS) == []


def test_one_address_behind_trusted_proxies_does_not_warn():
    read, registry = _reader(trusted=True)
    with captured_logs("WARNING") as logs:
        for _ in range(12):
            read(FORWARDED, "ipv4:10.0.0.5:1")
    assert registry.get_sample_value("grpc_client_addresses_distinct") == 1
    assert logs.events(ONE_ADDRESS) == logs.events(IGNORED) == []


def test_forwarding_from_an_untrusted_peer_is_counted_and_warned_about_once():
    read, registry = _reader(window_calls=1000)
    with captured_logs("WARNING") as logs:
        for _ in range(3):
            assert read(FORWARDED, "ipv6:%5B::1%5D:1").address == "::1"
        read(None, "ipv6:%5B::1%5D:1")
    assert registry.get_sample_value("grpc_untrusted_forwarded_for_total") == 3
    [warning] = logs.events(IGNORED)
    assert warning["peer"] == "::1"
