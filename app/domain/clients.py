"""Who is on the other end of a call: the client's address and user agent."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Client:
    """The caller as the edge saw it.

    ``address`` is the peer's IP address, or the forwarded one when the peer is a
    configured trusted proxy (``grpc.trusted_proxies``); "" when unknown.
    ``user_agent`` is the client's ``user-agent`` metadata, bounded in length.
    Neither is a secret; both are for throttling, session records and audit.
    """

    address: str
    user_agent: str = ""


UNKNOWN_CLIENT = Client(address="")
