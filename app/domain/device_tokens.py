"""Device tokens: a signed, expiring proof that a client once logged in to an account.

After OWASP's "device cookies": the service hands one out at each successful
login and accepts it back as ``device-token`` metadata. A valid token for the
attempted account lets its holder past the waits that failures on the account
or its address impose, so the owner gets in from a new address while
guessers wait. Failures made with a token are counted on the token: after the
account's free failures it exempts nothing, so a stolen token gives no more
guesses than anyone has.

A token is a secret: never logged, never in events, spans or metric labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# A presented token longer than this is not read (an issued one is ~100 characters).
DEVICE_TOKEN_MAX_LENGTH = 512


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """A token whose signature, lifetime and account were checked.

    ``id`` names the token (a random value inside it, not the token itself):
    its failures are counted under it.
    """

    id: str


class DeviceTokens(Protocol):
    """Issues and checks device tokens (signed under a key from settings)."""

    def issue(self, account: str) -> str:
        """A new token bound to ``account`` (a ``canonical_email``), valid for the lifetime."""
        ...

    def verify(self, token: str, account: str) -> DeviceToken | None:
        """The token if it is well signed, unexpired and bound to ``account``; None otherwise."""
        ...
