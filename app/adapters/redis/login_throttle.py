"""RedisLoginThrottle: login back-off per account and per address, action rates per address.

Logins (after Keycloak's brute-force detection): each counter (``account``,
named by a keyed hash of the canonical email; ``address``, the client's
address group) holds its failure count and the time of its last counted
attempt. Once the count reaches the scope's free failures, the next attempt
must wait ``first_wait``, doubled for every further failure, at most
``max_wait``; a key untouched for ``forget_after`` expires. One script checks
every key and, if none must wait, counts the attempt: parallel guesses cannot
slip past. Every attempt counts as a failure until ``succeeded`` or
``withdrawn`` says otherwise.

Who is spared: a valid device token (within its own free failures) lifts
both waits; an address the account logged in from lifts one of them, never
both. Successful logins are limited per account and per address as a rate
(GCRA), checked before hashing and counted on success: the rate no person
reaches. The scripts, and what each key holds, are in ``login_throttle_scripts``.

Actions (Register, ChangePassword): a per-address rate with a burst (GCRA).

Keys: ``<prefix>throttle:<action>:<scope>:<value>``, the account's value a
keyed hash, never the email. Single Redis: the login scripts touch several
keys, which on Redis Cluster would need one hash slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.adapters.login_secrets import LoginSecrets
from app.adapters.redis import login_throttle_scripts as scripts
from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.domain.clients import Client
from app.domain.device_tokens import DeviceToken
from app.domain.errors import Throttled
from app.domain.throttling import LimitedAction, ThrottleScope
from app.observability.throttle_metrics import ThrottleMetrics
from app.observability.tracing import traced


@dataclass(frozen=True, slots=True)
class LoginBackoff:
    """The login limits: free failures per scope, then a doubling wait, all in seconds."""

    account_free_failures: int
    address_free_failures: int
    first_wait_seconds: float
    max_wait_seconds: float
    forget_after_seconds: float
    # How long an address the account logged in from stays known (0: never).
    known_address_seconds: float
    # Successful logins per minute (and as a burst) per account and per address.
    successes_per_account_per_minute: int = 10
    successes_per_address_per_minute: int = 300


# The most known addresses kept per account (one random one makes room).
KNOWN_ADDRESSES_PER_ACCOUNT = 20

# The refusing key's index in the login scripts, as the limit it stands for.
_REFUSALS = {
    1: (LimitedAction.LOGIN, ThrottleScope.ACCOUNT),
    2: (LimitedAction.LOGIN, ThrottleScope.ADDRESS),
    3: (LimitedAction.SUCCESSFUL_LOGIN, ThrottleScope.ACCOUNT),
    4: (LimitedAction.SUCCESSFUL_LOGIN, ThrottleScope.ADDRESS),
}


def _milliseconds(seconds: float) -> int:
    return max(round(seconds * 1000), 1)


class RedisLoginThrottle:
    """Satisfies ``LoginThrottle``; counts refusals in ``metrics``.

    ``actions_per_minute`` gives each limited action (``register``,
    ``change_password``) its rate per client address, and
    ``account_actions_per_minute`` its rate per account (reset requests); an
    action without a rate is not limited in that scope.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        key_prefix: str,
        backoff: LoginBackoff,
        actions_per_minute: Mapping[LimitedAction, int],
        metrics: ThrottleMetrics,
        account_actions_per_minute: Mapping[LimitedAction, int] | None = None,
        login_secrets: LoginSecrets,
    ) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}throttle:"
        self._backoff = backoff
        self._actions_per_minute = dict(actions_per_minute)
        self._account_actions_per_minute = dict(account_actions_per_minute or {})
        self._metrics = metrics
        self._secrets = login_secrets
        self._admit_login = redis.register_script(scripts.ADMIT_LOGIN)
        self._succeeded = redis.register_script(scripts.SUCCEEDED)
        self._withdrawn = redis.register_script(scripts.WITHDRAWN)
        self._admit_action = redis.register_script(scripts.ADMIT_ACTION)
        metrics.initialize(
            [pair for pair in _REFUSALS.values()]
            + [(action, ThrottleScope.ADDRESS) for action in self._actions_per_minute]
            + [(action, ThrottleScope.ACCOUNT) for action in self._account_actions_per_minute]
        )

    def key(self, action: LimitedAction, scope: ThrottleScope, value: str) -> str:
        """The key of ``value``: an address group as is, an account by its keyed hash."""
        if scope is ThrottleScope.ACCOUNT:
            value = self._secrets.account_digest(value)
        return f"{self._prefix}{action.value}:{scope.value}:{value}"

    def known_key(self, account: str) -> str:
        digest = self._secrets.account_digest(account)
        return f"{self._prefix}{LimitedAction.LOGIN.value}:known:{digest}"

    def device_key(self, device: DeviceToken) -> str:
        return f"{self._prefix}{LimitedAction.LOGIN.value}:device:{device.id}"

    def _login_keys(
        self, account: str | None, client: Client, device: DeviceToken | None
    ) -> list[str]:
        """The six keys of the login scripts, "" where there is none."""
        address = client.address_group
        login, success = LimitedAction.LOGIN, LimitedAction.SUCCESSFUL_LOGIN
        account_scope, address_scope = ThrottleScope.ACCOUNT, ThrottleScope.ADDRESS
        has_account = account is not None
        return [
            self.key(login, account_scope, account) if account is not None else "",
            self.key(login, address_scope, address) if address else "",
            self.known_key(account) if account is not None and address else "",
            self.device_key(device) if device is not None and has_account else "",
            self.key(success, account_scope, account) if account is not None else "",
            self.key(success, address_scope, address) if address else "",
        ]

    def _intervals_ms(self) -> tuple[float, float]:
        backoff = self._backoff
        return (
            60_000 / backoff.successes_per_account_per_minute,
            60_000 / backoff.successes_per_address_per_minute,
        )

    @traced
    async def admit(
        self, account: str | None, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        backoff = self._backoff
        account_interval, address_interval = self._intervals_ms()
        with redis_errors():
            answer = await self._admit_login(
                keys=self._login_keys(account, client, device),
                args=[
                    _milliseconds(backoff.first_wait_seconds),
                    _milliseconds(backoff.max_wait_seconds),
                    _milliseconds(backoff.forget_after_seconds),
                    client.address_group,
                    backoff.account_free_failures,
                    backoff.address_free_failures,
                    account_interval,
                    backoff.successes_per_account_per_minute,
                    address_interval,
                    backoff.successes_per_address_per_minute,
                ],
            )
        remaining_ms = int(answer[0])
        if remaining_ms > 0:
            action, scope = _REFUSALS[int(answer[1])]
            self._refuse(action, scope, remaining_ms, first=bool(int(answer[2])))

    @traced
    async def succeeded(
        self, account: str, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        account_interval, address_interval = self._intervals_ms()
        with redis_errors():
            await self._succeeded(
                keys=self._login_keys(account, client, device),
                args=[
                    client.address_group,
                    round(self._backoff.known_address_seconds * 1000),
                    KNOWN_ADDRESSES_PER_ACCOUNT,
                    account_interval,
                    address_interval,
                ],
            )

    @traced
    async def withdraw(
        self, account: str | None, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        with redis_errors():
            await self._withdrawn(keys=self._login_keys(account, client, device), args=[])

    @traced
    async def clear(self, account: str | None, address_group: str | None) -> int:
        keys = [
            self.key(action, scope, value)
            for scope, value in (
                (ThrottleScope.ACCOUNT, account),
                (ThrottleScope.ADDRESS, address_group),
            )
            if value
            for action in (LimitedAction.LOGIN, LimitedAction.SUCCESSFUL_LOGIN)
        ]
        if not keys:
            return 0
        with redis_errors():
            return int(await self._redis.delete(*keys))

    @traced
    async def admit_action(
        self, action: LimitedAction, client: Client, *, account: str | None = None
    ) -> None:
        address = client.address_group
        if address:
            await self._admit_rate(
                action, ThrottleScope.ADDRESS, address, self._actions_per_minute.get(action)
            )
        if account is not None:
            await self._admit_rate(
                action, ThrottleScope.ACCOUNT, account, self._account_actions_per_minute.get(action)
            )

    async def _admit_rate(
        self, action: LimitedAction, scope: ThrottleScope, value: str, per_minute: int | None
    ) -> None:
        if per_minute is None:
            return
        with redis_errors():
            remaining_ms = int(
                await self._admit_action(
                    keys=[self.key(action, scope, value)],
                    args=[60_000 / per_minute, per_minute],
                )
            )
        if remaining_ms > 0:
            self._refuse(action, scope, remaining_ms, first=False)

    def _refuse(
        self, action: LimitedAction, scope: ThrottleScope, remaining_ms: int, *, first: bool
    ) -> None:
        self._metrics.refused(action.value, scope.value)
        raise Throttled(
            remaining_ms / 1000, action=action.value, scope=scope.value, first_refusal=first
        )
