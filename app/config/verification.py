"""Email verification's settings: how long a token lives, the resend rate, and whether
Login requires a verified address."""

from __future__ import annotations

from pydantic import Field

from app.config.sections import Section

DAY_SECONDS = 24 * 3600.0


class VerificationSettings(Section):
    # A verification link dies this long after it is sent; two days at most, so a
    # message left unread in a mailbox does not stay a key to the account for ever.
    token_lifetime_seconds: float = Field(DAY_SECONDS, ge=60, le=2 * DAY_SECONDS)
    # Off by default: clients written before verification existed keep logging in.
    required_for_login: bool = False
    # ResendVerification per account and per client address, as a burst of this
    # many and then one every 60/n s.
    resend_per_minute: int = Field(2, ge=1, le=1000)
