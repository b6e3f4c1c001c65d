"""Names for throttling: what is limited (actions) and per what (scopes)."""

from __future__ import annotations

import enum


class LimitedAction(enum.StrEnum):
    """Calls whose attempts are counted per client address."""

    LOGIN = "login"
    REGISTER = "register"
    CHANGE_PASSWORD = "change_password"  # noqa: S105 (an action's name, not a password)


class ThrottleScope(enum.StrEnum):
    """What a limit counts: one account's attempts, or one client address's."""

    ACCOUNT = "account"
    ADDRESS = "address"
