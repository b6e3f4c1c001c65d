"""The caller's address and user agent, as read from metadata and the peer."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.clients import Client
from app.domain.errors import Unauthenticated
from app.grpc.metadata import (
    Peer,
    client_from,
    forwarded_address,
    parse_peer,
    peer_address,
    session_id_from,
)

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)
BOTH_FAMILIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00:1::/64"))


@pytest.mark.parametrize(
    ("peer", "parsed"),
    [
        ("ipv4:127.0.0.1:5555", Peer("127.0.0.1", 5555)),
        ("ipv6:%5B::1%5D:5555", Peer("::1", 5555)),
        ("ipv6:%5b::1%5d:5555", Peer("::1", 5555)),
        ("ipv6:[::1]:5555", Peer("::1", 5555)),
        ("ipv6:::1:5555", Peer("::1", 5555)),
        ("ipv6:%5B2001:DB8:0:0::7%5D:443", Peer("2001:db8::7", 443)),
        ("ipv6:%5Bfe80::1%25eth0%5D:5555", Peer("fe80::1", 5555)),
        ("ipv6:%5B::ffff:198.51.100.7%5D:1", Peer("198.51.100.7", 1)),
        ("ipv6:%5B::ffff:c633:6407%5D:1", Peer("198.51.100.7", 1)),
        ("ipv4:127.0.0.1", Peer()),
        ("ipv4:127.0.0.1:port", Peer()),
        ("ipv4:127.0.0.1:65536", Peer()),
        ("ipv4:127.0.0.1:\u0665", Peer()),
        ("ipv4:127.0.0.01:1", Peer()),
        ("ipv6:%5Bnot-an-address%5D:1", Peer()),
        ("unix:/tmp/socket", Peer()),
        ("unix-abstract:name", Peer()),
        ("", Peer()),
        (None, Peer()),
    ],
)
def test_a_peer_is_parsed_to_its_canonical_address_and_port(peer, parsed):
    assert parse_peer(peer) == parsed
    assert peer_address(peer) == parsed.address


_IPV4 = st.ip_addresses(v=4)
_IPV6 = st.ip_addresses(v=6)
_PORTS = st.integers(0, 65535)


def _canonical(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


@given(_IPV4, _PORTS)
def test_every_ipv4_peer_is_read_as_gRPC_writes_it(ip, port):
    assert parse_peer(f"ipv4:{ip}:{port}") == Peer(str(ip), port)


@given(_IPV6, _PORTS, st.booleans(), st.booleans())
def test_every_ipv6_peer_is_read_in_every_form_gRPC_writes(ip, port, exploded, encoded):
    text = ip.exploded.upper() if exploded else str(ip)
    host = quote(f"[{text}]") if encoded else f"[{text}]"
    assert parse_peer(f"ipv6:{host}:{port}") == Peer(_canonical(ip), port)


@given(st.text(max_size=60))
def test_any_peer_string_parses_to_an_address_or_to_none(peer):
    parsed = parse_peer(peer)
    if parsed.address:
        assert str(ipaddress.ip_address(parsed.address)) == parsed.address
    else:
        assert parsed == Peer()


@pytest.mark.parametrize(
    ("hop", "address"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9:5678 ", "203.0.113.9"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::1:443", "::1:443"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("[::ffff:203.0.113.9]:80", "203.0.113.9"),
        ("203.0.113.9:http", None),
        ("203.0.113.9:99999", None),
        ("[2001:db8::1]443", None),
        ("[2001:db8::1", None),
        ("2001:db8::1]", None),
        ("unknown", None),
        ("_hidden", None),
        ("", None),
    ],
)
def test_a_forwarded_hop_is_read_in_the_forms_proxies_write(hop, address):
    parsed = forwarded_address(hop)
    assert (None if parsed is None else str(parsed)) == address


@given(st.text(max_size=60))
def test_any_forwarded_hop_is_an_address_or_none(hop):
    parsed = forwarded_address(hop)
    assert parsed is None or str(ipaddress.ip_address(str(parsed))) == str(parsed)


@given(st.one_of(_IPV4, _IPV6), _PORTS)
def test_every_forwarded_address_is_read_with_or_without_its_port(ip, port):
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    for hop in (str(ip), host, f"{host}:{port}"):
        parsed = forwarded_address(hop)
        assert parsed is not None and str(parsed) == _canonical(ip)


@pytest.mark.parametrize(
    ("hops", "peer", "address"),
    [
        ("[2001:db8::9]:443", "ipv6:%5Bfd00:1::5%5D:1", "2001:db8::9"),
        ("203.0.113.9", "ipv6:%5B::ffff:10.0.0.5%5D:1", "203.0.113.9"),
        ("203.0.113.9", "ipv6:%5B2001:db8::5%5D:1", "2001:db8::5"),
    ],
    ids=["ipv6-proxy", "ipv4-mapped-proxy", "untrusted-ipv6-peer"],
)
def test_ipv6_peers_are_trusted_exactly_when_inside_a_trusted_network(hops, peer, address):
    client = client_from([("x-forwarded-for", hops)], peer, BOTH_FAMILIES)
    assert client.address == address


def test_a_trusted_proxy_of_either_family_forwards_either_family():
    hops = [("x-forwarded-for", "2001:db8::9, 198.51.100.7, fd00:1::8, 10.2.2.2:80")]
    assert client_from(hops, "ipv4:10.0.0.5:1", BOTH_FAMILIES).address == "198.51.100.7"
    assert client_from(hops, "ipv6:%5Bfd00:1::5%5D:1", BOTH_FAMILIES).address == "198.51.100.7"


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::", "2001:db8:1:2::/64"),
        ("::1", "::/64"),
        ("", ""),
    ],
)
def test_limits_count_ipv4_addresses_alone_and_ipv6_by_their_64(address, group):
    assert Client(address=address).address_group == group


@given(_IPV6, _IPV6)
def test_two_ipv6_addresses_share_a_group_exactly_when_they_share_a_64(first, second):
    same_64 = first.packed[:8] == second.packed[:8]
    groups = {Client(address=str(ip)).address_group for ip in (first, second)}
    assert (len(groups) == 1) is same_64


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
