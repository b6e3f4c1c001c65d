"""Reading the caller from request metadata: its session id, address and user agent."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from app.domain.clients import Client
from app.domain.device_tokens import DEVICE_TOKEN_MAX_LENGTH
from app.domain.errors import Unauthenticated
from app.grpc.address_watch import AddressWatch

SESSION_KEY = "session_id"
AUTHORIZATION_KEY = "authorization"
BEARER = "bearer "
FORWARDED_FOR_KEY = "x-forwarded-for"
USER_AGENT_KEY = "user-agent"
USER_AGENT_MAX_LENGTH = 256

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Metadata = Iterable[tuple[str, Any]] | None
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Peer:
    """A gRPC peer's IP address in canonical text form ("" if not IP) and its port (0 if none)."""

    address: str = ""
    port: int = 0


UNKNOWN_PEER = Peer()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def session_id_from(metadata: Metadata) -> str | None:
    """The one session id presented: ``session_id: <id>`` or ``authorization: Bearer <id>``.

    None when none is presented (a blank value is none; an ``authorization``
    of another scheme is a credential that names no session). More than one
    credential (two ``session_id``, two ``authorization``, or one of each)
    raises ``Unauthenticated``: which one the caller meant is never guessed.
    """
    credentials: list[str | None] = []
    for key, value in metadata or ():
        if key not in (SESSION_KEY, AUTHORIZATION_KEY):
            continue
        text = _text(value).strip()
        if not text:
            continue
        if key == SESSION_KEY:
            credentials.append(text)
        elif text[: len(BEARER)].lower() == BEARER:
            credentials.append(text[len(BEARER) :].strip() or None)
        else:
            credentials.append(None)
    if len(credentials) > 1:
        raise Unauthenticated()
    return credentials[0] if credentials else None


PARSED_PEERS_KEPT = 4096


def _ip(host: str) -> IPAddress | None:
    """``host`` as an address: IPv4-mapped IPv6 as the IPv4, zone ids dropped; None if none."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id is not None:
            # The zone names an interface of this host, not the client.
            return ipaddress.IPv6Address(ip.packed)
    return ip


def _port(text: str) -> int | None:
    if not (text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535):
        return None
    return int(text)


def _unbracketed(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


# A connection's calls share its peer: parsing each peer once saves the
# address parsing on every call but a connection's first.
@functools.lru_cache(maxsize=PARSED_PEERS_KEPT)
def _peer_ip(peer: str | None) -> tuple[IPAddress | None, int]:
    # gRPC writes ``ipv4:1.2.3.4:5555`` and ``ipv6:%5B::1%5D:5555`` (brackets and a
    # zone's ``%`` percent-encoded, RFC 3986); older versions wrote ``ipv6:[::1]:5555``.
    if not peer or not peer.startswith(("ipv4:", "ipv6:")):
        return None, 0
    host, _, port_text = unquote(peer[5:]).rpartition(":")
    port = _port(port_text)
    ip = _ip(_unbracketed(host)) if port is not None else None
    return (ip, port or 0) if ip is not None else (None, 0)


def parse_peer(peer: str | None) -> Peer:
    """A gRPC peer (``context.peer()``) read as an IP address and port.

    ``ipv4:`` and ``ipv6:`` peers, the host bracketed or not, percent-encoded
    or not, with a zone id or not; anything else (``unix:``, malformed) is
    the unknown peer. The address is canonical: IPv6 compressed and in
    lower case, an IPv4-mapped IPv6 address as its IPv4 address.
    """
    ip, port = _peer_ip(peer)
    return UNKNOWN_PEER if ip is None else Peer(str(ip), port)


def peer_address(peer: str | None) -> str:
    """The canonical IP address of a gRPC peer (see :func:`parse_peer`); "" if none."""
    return parse_peer(peer).address


def forwarded_address(hop: str) -> IPAddress | None:
    """One ``x-forwarded-for`` hop as proxies write it; None when it is no address.

    Accepted: ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]``
    and ``[2001:db8::1]:443``, a zone id or not. An unbracketed IPv6 address
    is read whole, never as address and port (``::1:443`` is an address).
    """
    text = hop.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and (rest[0] != ":" or _port(rest[1:]) is None)):
            return None
        return _ip(host)
    host, colon, port_text = text.partition(":")
    if colon and ":" not in port_text:
        return _ip(host) if _port(port_text) is not None else None
    return _ip(text)


def _is_trusted(ip: IPAddress, trusted_proxies: Sequence[Network]) -> bool:
    return any(ip in network for network in trusted_proxies)


def _read_client(
    metadata: Metadata, peer: str | None, trusted_proxies: Sequence[Network]
) -> tuple[Client, bool]:
    """The client, and whether the call's ``x-forwarded-for`` was ignored (an untrusted peer)."""
    ip, _ = _peer_ip(peer)
    user_agent = ""
    forwarded: list[str] = []
    for key, value in metadata or ():
        if key == USER_AGENT_KEY:
            user_agent = _text(value)[:USER_AGENT_MAX_LENGTH]
        elif key == FORWARDED_FOR_KEY:
            forwarded.extend(_text(value).split(","))
    if forwarded and (ip is None or not _is_trusted(ip, trusted_proxies)):
        return Client(address="" if ip is None else str(ip), user_agent=user_agent), True
    for hop in reversed(forwarded):
        if not hop.strip():
            continue
        hop_ip = forwarded_address(hop)
        if hop_ip is None:
            break
        if not _is_trusted(hop_ip, trusted_proxies):
            ip = hop_ip
            break
    return Client(address="" if ip is None else str(ip), user_agent=user_agent), False


def client_from(
    metadata: Metadata, peer: str | None, trusted_proxies: Sequence[Network] = ()
) -> Client:
    """The caller's address and user agent.

    The address is the peer's, unless the peer is a trusted proxy: then it is
    the right-most address of ``x-forwarded-for`` that is not itself a trusted
    proxy (the left-most entries are whatever the client chose to send). A
    hop that is no address (see :func:`forwarded_address`) ends the search
    and the peer stays the client. Addresses are canonical, as
    :func:`parse_peer` writes them.
    """
    return _read_client(metadata, peer, trusted_proxies)[0]


class ClientReader:
    """Reads each call's client as :func:`client_from` does, and shows it to an address watch."""

    def __init__(
        self, trusted_proxies: Sequence[Network] = (), watch: AddressWatch | None = None
    ) -> None:
        self._trusted_proxies = tuple(trusted_proxies)
        self._watch = watch

    def __call__(self, metadata: Metadata, peer: str | None) -> Client:
        client, ignored_forwarding = _read_client(metadata, peer, self._trusted_proxies)
        if self._watch is not None:
            self._watch.saw(client.address, ignored_forwarding)
        return client


DEVICE_TOKEN_KEY = "device-token"  # noqa: S105 (a metadata key, not a token)


def device_token_from(metadata: Metadata) -> str:
    """The ``device-token`` metadata (a secret: never logged), "" when none or longer than
    any issued token; with more than one, the first."""
    for key, value in metadata or ():
        if key == DEVICE_TOKEN_KEY:
            text = _text(value).strip()
            return text if len(text) <= DEVICE_TOKEN_MAX_LENGTH else ""
    return ""
