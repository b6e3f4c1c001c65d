"""Reading the caller from request metadata: its session id, address and user agent."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from app.domain.clients import Client
from app.domain.device_tokens import DEVICE_TOKEN_MAX_LENGTH
from app.domain.errors import Unauthenticated

SESSION_KEY = "session_id"
AUTHORIZATION_KEY = "authorization"
BEARER = "bearer "
FORWARDED_FOR_KEY = "x-forwarded-for"
USER_AGENT_KEY = "user-agent"
USER_AGENT_MAX_LENGTH = 256

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Metadata = Iterable[tuple[str, Any]] | None


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


def peer_address(peer: str | None) -> str:
    """The IP address of a gRPC peer (``ipv4:1.2.3.4:5555``, ``ipv6:[::1]:5555``); "" if none."""
    if not peer or not peer.startswith(("ipv4:", "ipv6:")):
        return ""
    address = peer.split(":", 1)[1].rpartition(":")[0]
    return address.strip("[]")


def _is_trusted(address: str, trusted_proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)


def client_from(
    metadata: Metadata, peer: str | None, trusted_proxies: Sequence[Network] = ()
) -> Client:
    """The caller's address and user agent.

    The address is the peer's, unless the peer is a trusted proxy: then it is
    the right-most address of ``x-forwarded-for`` that is not itself a trusted
    proxy (the left-most entries are whatever the client chose to send).
    """
    address = peer_address(peer)
    user_agent = ""
    forwarded: list[str] = []
    for key, value in metadata or ():
        if key == USER_AGENT_KEY:
            user_agent = _text(value)[:USER_AGENT_MAX_LENGTH]
        elif key == FORWARDED_FOR_KEY:
            forwarded.extend(part.strip() for part in _text(value).split(","))
    if trusted_proxies and _is_trusted(address, trusted_proxies):
        for hop in reversed([hop for hop in forwarded if hop]):
            if not _is_trusted(hop, trusted_proxies):
                with contextlib.suppress(ValueError):
                    address = str(ipaddress.ip_address(hop))
                break
    return Client(address=address, user_agent=user_agent)


DEVICE_TOKEN_KEY = "device-token"  # noqa: S105 (a metadata key, not a token)


def device_token_from(metadata: Metadata) -> str:
    """The ``device-token`` metadata (a secret: never logged), "" when none or longer than
    any issued token; with more than one, the first."""
    for key, value in metadata or ():
        if key == DEVICE_TOKEN_KEY:
            text = _text(value).strip()
            return text if len(text) <= DEVICE_TOKEN_MAX_LENGTH else ""
    return ""
