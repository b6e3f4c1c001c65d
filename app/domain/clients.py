"""Who is on the other end of a call: the client's address and user agent."""

from __future__ import annotations

import ipaddress
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

    @property
    def address_group(self) -> str:
        """The address as limits count it: IPv4 as is, IPv6 as its /64 network ("" if none).

        An IPv6 host is usually handed a whole /64: counting each of its addresses
        as a new client would give it 2**64 fresh allowances.
        """
        if ":" not in self.address:
            return self.address
        return str(ipaddress.IPv6Network((self.address, 64), strict=False))


UNKNOWN_CLIENT = Client(address="")
