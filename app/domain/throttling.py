"""Names for throttling: what is limited (actions) and per what (scopes)."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from app.domain.clients import Client
from app.domain.errors import InvalidInput
from app.domain.users import AccountKey, canonical_email, normalise_email


class LimitedAction(enum.StrEnum):
    """Calls whose attempts are counted per client address."""

    LOGIN = "login"
    # Logins that proved their password: limited at a rate no person reaches,
    # so one account (or one address) cannot make sessions as fast as it hashes.
    SUCCESSFUL_LOGIN = "successful_login"
    REGISTER = "register"
    CHANGE_PASSWORD = "change_password"  # noqa: S105 (an action's name, not a password)
    PASSWORD_RESET_REQUEST = "password_reset_request"  # noqa: S105 (an action's name)
    PASSWORD_RESET_GUESS = "password_reset_guess"  # noqa: S105 (an action's name)
    RESEND_VERIFICATION = "resend_verification"


class ThrottleScope(enum.StrEnum):
    """What a limit counts: one account's attempts, or one client address's."""

    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class ThrottleTarget:
    """Whose throttle state to clear: an account, an address group, or both."""

    account: AccountKey | None
    address_group: str | None


def parse_throttle_target(email: str, address: str) -> ThrottleTarget:
    """The target named by a clearing request; ``InvalidInput`` unless one of them is given
    and each given one is valid. An IPv6 address names its /64, as the limits count it."""
    email, address = email.strip(), address.strip()
    if not email and not address:
        raise InvalidInput("email", "give an email, an address, or both")
    account = canonical_email(normalise_email(email)) if email else None
    group = None
    if address:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise InvalidInput("address", "not an IP address") from None
        group = Client(address=str(parsed)).address_group
    return ThrottleTarget(account=account, address_group=group)
