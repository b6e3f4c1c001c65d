"""The caller's address and user agent, as read from metadata and the peer."""

from __future__ import annotations

import ipaddress

import pytest

from app.domain.errors import Unauthenticated
from app.grpc.metadata import client_from, peer_address, session_id_from

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def test_the_peer_address_is_read_from_both_families():
    assert peer_address("ipv4:127.0.0.1:5555") == "127.0.0.1"
    assert peer_address("ipv6:[::1]:5555") == "::1"
    assert peer_address("ipv6:[2001:db8::7]:443") == "2001:db8::7"
    assert peer_address("unix:/tmp/socket") == ""
    assert peer_address("") == ""
    assert peer_address(None) == ""


def test_without_metadata_the_client_is_the_peer_with_no_user_agent():
    client = client_from(None, "ipv4:198.51.100.7:1", PROXIES)
    assert (client.address, client.user_agent) == ("198.51.100.7", "")


def test_forwarded_for_counts_only_behind_a_configured_proxy():
    client = client_from([("x-forwarded-for", "203.0.113.9")], "ipv4:10.0.0.5:1")
    assert client.address == "10.0.0.5"


def test_a_peer_that_is_no_ip_address_is_never_a_trusted_proxy():
    client = client_from([("x-forwarded-for", "203.0.113.9")], "unix:/tmp/socket", PROXIES)
    assert client.address == ""


def test_forwarded_for_is_ignored_from_a_peer_that_is_not_a_trusted_proxy():
    client = client_from([("x-forwarded-for", "203.0.113.9")], "ipv4:198.51.100.7:1", PROXIES)
    assert client.address == "198.51.100.7"


def test_a_trusted_proxy_names_the_right_most_untrusted_hop():
    metadata = [("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.2.3")]
    client = client_from(metadata, "ipv4:10.0.0.5:1", PROXIES)
    assert client.address == "203.0.113.9"


def test_every_forwarded_for_header_counts_and_empty_hops_are_skipped():
    metadata = [
        ("x-forwarded-for", "203.0.113.9, ,"),
        ("user-agent", "unit-test"),
        ("x-forwarded-for", " , 10.1.2.3"),
    ]
    client = client_from(metadata, "ipv4:10.0.0.5:1", PROXIES)
    assert client.address == "203.0.113.9"


def test_a_forwarded_address_is_written_in_its_canonical_form():
    metadata = [("x-forwarded-for", "2001:DB8:0::9")]
    assert client_from(metadata, "ipv4:10.0.0.5:1", PROXIES).address == "2001:db8::9"


def test_when_every_hop_is_a_trusted_proxy_the_peer_stays_the_client():
    metadata = [("x-forwarded-for", "10.9.9.9, 10.1.2.3")]
    assert client_from(metadata, "ipv4:10.0.0.5:1", PROXIES).address == "10.0.0.5"


def test_a_forwarded_value_that_is_not_an_address_keeps_the_peer():
    client = client_from([("x-forwarded-for", "garbage")], "ipv4:10.0.0.5:1", PROXIES)
    assert client.address == "10.0.0.5"


def test_the_user_agent_is_kept_and_bounded():
    client = client_from([("user-agent", "x" * 1000)], "ipv4:127.0.0.1:1")
    assert client.user_agent == "x" * 256


def test_binary_values_are_read_as_utf8_and_bad_bytes_replaced():
    metadata = [("user-agent", b"agent \xff"), ("x-forwarded-for", b"203.0.113.9")]
    client = client_from(metadata, "ipv4:10.0.0.5:1", PROXIES)
    assert client.user_agent == "agent \ufffd"
    assert client.address == "203.0.113.9"


@pytest.mark.parametrize(
    ("metadata", "session_id"),
    [
        (None, None),
        ([], None),
        ([("session_id", "   ")], None),
        ([("session_id", b"abc")], "abc"),
        ([("authorization", b"Bearer abc")], "abc"),
        ([("session_id", " abc ")], "abc"),
        ([("authorization", "Bearer abc")], "abc"),
        ([("authorization", "bearer   abc ")], "abc"),
        ([("authorization", "Basic dXNlcjpwYXNz")], None),
        ([("authorization", "Bearer ")], None),
        ([("session_id", ""), ("authorization", "Bearer abc")], "abc"),
        ([("session_id", "abc"), ("user-agent", "x"), ("x-session_id", "def")], "abc"),
    ],
)
def test_one_credential_names_the_session(metadata, session_id):
    assert session_id_from(metadata) == session_id


@pytest.mark.parametrize(
    "metadata",
    [
        [("session_id", "abc"), ("session_id", "def")],
        [("session_id", "abc"), ("session_id", "abc")],
        [("authorization", "Bearer abc"), ("authorization", "Bearer def")],
        [("session_id", "abc"), ("authorization", "Bearer abc")],
        [("authorization", "Bearer abc"), ("session_id", "bad")],
        [("session_id", "abc"), ("authorization", "Basic dXNlcjpwYXNz")],
        [("session_id", "abc"), ("authorization", "Bearer ")],
    ],
)
def test_more_than_one_credential_is_unauthenticated_whatever_their_order(metadata):
    for ordered in (metadata, metadata[::-1]):
        with pytest.raises(Unauthenticated) as caught:
            session_id_from(ordered)
        assert caught.value.public_message == Unauthenticated.message
