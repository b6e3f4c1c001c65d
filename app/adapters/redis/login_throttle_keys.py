"""The keys of ``RedisLoginThrottle``: one hash tag per account and one per address.

``<prefix>throttle:<action>:<scope>:{<value>}``: an address group as is, an
account by a keyed hash of its canonical email (never the email). The braces
are a Redis Cluster hash tag, so each account's keys (failures, known
addresses, device tokens' failures, successful logins) share one slot, and each
address's; accounts and addresses spread over the cluster's masters.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.adapters.login_secrets import LoginSecrets
from app.domain.clients import Client
from app.domain.device_tokens import DeviceToken
from app.domain.throttling import LimitedAction, ThrottleScope


@dataclass(frozen=True, slots=True)
class LoginKeys:
    """A login's keys by scope: each list shares one hash tag (one cluster slot).

    ``address``: its failures and successful logins, or empty without an
    address. ``account``: its failures, known addresses, the device token's
    failures and its successful logins, "" where there is none.
    """

    address: list[str]
    account: list[str]

    def failures(self, refusing: int) -> str:
        """The failure counter of a refusing limit (1 the account's, 2 the address's)."""
        return self.account[0] if refusing == 1 else self.address[0]

    @property
    def account_script_keys(self) -> list[str]:
        """The account's keys for its scripts: an absent one stands in as its failures key.

        A key of "" would hash to a slot of its own; the scripts read the
        stand-ins as absent by :attr:`account_mask`.
        """
        stand_in = self.account[0]
        return [key or stand_in for key in self.account]

    @property
    def account_mask(self) -> str:
        """Which account keys this login has: ``1`` present, ``0`` absent, in order."""
        return "".join("1" if key else "0" for key in self.account)


class ThrottleKeys:
    """Names the throttle's keys under ``<key prefix>throttle:``."""

    def __init__(self, key_prefix: str, secrets: LoginSecrets) -> None:
        self._prefix = f"{key_prefix}throttle:"
        self._secrets = secrets

    def key(self, action: LimitedAction, scope: ThrottleScope, value: str) -> str:
        """The key of ``value``: an address group as is, an account by its keyed hash."""
        if scope is ThrottleScope.ACCOUNT:
            value = self._secrets.account_digest(value)
        return f"{self._prefix}{action.value}:{scope.value}:{{{value}}}"

    def known(self, account: str) -> str:
        """The addresses the account logged in from."""
        digest = self._secrets.account_digest(account)
        return f"{self._prefix}{LimitedAction.LOGIN.value}:known:{{{digest}}}"

    def device(self, account: str, device: DeviceToken) -> str:
        """A device token's failures, in its account's slot."""
        digest = self._secrets.account_digest(account)
        return f"{self._prefix}{LimitedAction.LOGIN.value}:device:{{{digest}}}:{device.id}"

    def login(self, account: str | None, client: Client, device: DeviceToken | None) -> LoginKeys:
        """Every key a login attempt reads or counts on, by scope."""
        address = client.address_group
        login, success = LimitedAction.LOGIN, LimitedAction.SUCCESSFUL_LOGIN
        address_keys = (
            [self.key(login, ThrottleScope.ADDRESS, address),
             self.key(success, ThrottleScope.ADDRESS, address)]
            if address else []
        )  # fmt: skip
        if account is None:
            return LoginKeys(address_keys, ["", "", "", ""])
        return LoginKeys(
            address_keys,
            [
                self.key(login, ThrottleScope.ACCOUNT, account),
                self.known(account) if address else "",
                self.device(account, device) if device is not None else "",
                self.key(success, ThrottleScope.ACCOUNT, account),
            ],
        )
