"""The server's listening address, its connection cap and the missing-proxy warning."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from app.config import GrpcSettings
from app.grpc.server import listen_address, server_options, warn_about_missing_proxies

MISSING_PROXIES = (
    "plaintext is allowed for a proxy or mesh in front, but no trusted proxies are set:"
    " every client behind it has the proxy's address and shares its throttle"
)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("0.0.0.0", "0.0.0.0:5000"),
        ("localhost", "localhost:5000"),
        ("::", "[::]:5000"),
        ("::1", "[::1]:5000"),
        ("[::1]", "[::1]:5000"),
    ],
)
def test_an_ipv6_host_is_bracketed_to_be_bound(host, address):
    assert listen_address(host, 5000) == address


def test_the_connection_cap_is_handed_to_grpc_core_and_bounded():
    options = dict(server_options(GrpcSettings(max_connections=7)))
    assert options["grpc.max_allowed_incoming_connections"] == 7
    for wrong in (0, 1_000_001):
        with pytest.raises(ValidationError):
            GrpcSettings(max_connections=wrong)


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        ({"host": "0.0.0.0", "plaintext_allowed": True}, True),
        ({"host": "0.0.0.0", "plaintext_allowed": True, "trusted_proxies": ["10.0.0.0/8"]}, False),
        ({"host": "127.0.0.1"}, False),
    ],
)
def test_plaintext_for_a_proxy_without_trusted_proxies_is_warned_about(settings, warned):
    with capture_logs() as logs:
        warn_about_missing_proxies(GrpcSettings(**settings))
    events = [log["event"] for log in logs if log["log_level"] == "warning"]
    assert (MISSING_PROXIES in events) is warned
