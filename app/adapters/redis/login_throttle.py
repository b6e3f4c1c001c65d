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

Keys: ``<prefix>throttle:<action>:<scope>:{<value>}``, the account's value a
keyed hash, never the email. The braces are a Redis Cluster hash tag: each
account's keys share one slot, and each address's, and accounts and addresses
spread over the cluster. A login attempt is checked by two scripts, one per
scope, each checking and counting in one step: the address's first, then the
account's, which has the last word (a known address or a device token lifts
the address's wait there). Parallel guesses against one account therefore
never slip past the account's limit, nor guesses from one address past the
address's; an attempt the account refuses is taken back from the address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from app.adapters.login_secrets import LoginSecrets
from app.adapters.redis import login_throttle_scripts as scripts
from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.adapters.redis.login_throttle_keys import LoginKeys, ThrottleKeys
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
        self._backoff = backoff
        self._actions_per_minute = dict(actions_per_minute)
        self._account_actions_per_minute = dict(account_actions_per_minute or {})
        self._metrics = metrics
        self.keys = ThrottleKeys(key_prefix, login_secrets)
        self._admit_address = redis.register_script(scripts.ADMIT_ADDRESS)
        self._admit_account = redis.register_script(scripts.ADMIT_ACCOUNT)
        self._count_failure = redis.register_script(scripts.COUNT_FAILURE)
        self._first_refusal = redis.register_script(scripts.FIRST_REFUSAL)
        self._account_succeeded = redis.register_script(scripts.ACCOUNT_SUCCEEDED)
        self._address_succeeded = redis.register_script(scripts.ADDRESS_SUCCEEDED)
        self._withdrawn = redis.register_script(scripts.WITHDRAWN)
        self._admit_action = redis.register_script(scripts.ADMIT_ACTION)
        metrics.initialize(
            [pair for pair in _REFUSALS.values()]
            + [(action, ThrottleScope.ADDRESS) for action in self._actions_per_minute]
            + [(action, ThrottleScope.ACCOUNT) for action in self._account_actions_per_minute]
        )

    def _intervals_ms(self) -> tuple[float, float]:
        backoff = self._backoff
        return (
            60_000 / backoff.successes_per_account_per_minute,
            60_000 / backoff.successes_per_address_per_minute,
        )

    def _wait_arguments(self) -> list[int]:
        backoff = self._backoff
        return [
            _milliseconds(backoff.first_wait_seconds),
            _milliseconds(backoff.max_wait_seconds),
            _milliseconds(backoff.forget_after_seconds),
        ]

    @traced
    async def admit(
        self, account: str | None, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        keys = self.keys.login(account, client, device)
        address_waits = await self._check_address(keys)
        counted = address_waits[2] == 1
        remaining_ms, refusing = await self._check_account(keys, client, address_waits)
        with redis_errors():
            if refusing and counted:
                await self._withdrawn(keys=[keys.address[0]], args=[])
            elif not refusing and keys.address and not counted:  # its wait was lifted
                await self._count_failure(keys=[keys.address[0]], args=self._wait_arguments())
            first = refusing in (1, 2) and bool(
                await self._first_refusal(keys=[keys.failures(refusing)], args=[])
            )
        if refusing:
            action, scope = _REFUSALS[refusing]
            self._refuse(action, scope, remaining_ms, first=first)

    async def _check_address(self, keys: LoginKeys) -> list[int]:
        """The address's failure and success-rate waits, and 1 if the attempt counted there."""
        if not keys.address:
            return [0, 0, 0]
        _, address_interval = self._intervals_ms()
        backoff = self._backoff
        with redis_errors():
            answer = await self._admit_address(
                keys=keys.address,
                args=[
                    *self._wait_arguments(),
                    backoff.address_free_failures,
                    address_interval,
                    backoff.successes_per_address_per_minute,
                ],
            )
        return [int(value) for value in answer]

    async def _check_account(
        self, keys: LoginKeys, client: Client, address_waits: list[int]
    ) -> tuple[int, int]:
        """(0, 0) if admitted (and counted), else (remaining ms, the refusing limit)."""
        account_interval, _ = self._intervals_ms()
        backoff = self._backoff
        with redis_errors():
            answer = await self._admit_account(
                keys=keys.account_script_keys,
                args=[
                    *self._wait_arguments(),
                    client.address_group,
                    backoff.account_free_failures,
                    account_interval,
                    backoff.successes_per_account_per_minute,
                    address_waits[0],
                    address_waits[1],
                    keys.account_mask,
                ],
            )
        if int(answer[0]) == 0:
            return 0, 0
        return int(answer[0]), int(answer[1])

    @traced
    async def succeeded(
        self, account: str, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        keys = self.keys.login(account, client, device)
        account_interval, address_interval = self._intervals_ms()
        account_side = self._account_succeeded(
            keys=keys.account_script_keys,
            args=[
                client.address_group,
                round(self._backoff.known_address_seconds * 1000),
                KNOWN_ADDRESSES_PER_ACCOUNT,
                account_interval,
                keys.account_mask,
            ],
        )
        with redis_errors():
            if keys.address:
                await asyncio.gather(
                    account_side,
                    self._address_succeeded(keys=keys.address, args=[address_interval]),
                )
            else:
                await account_side

    @traced
    async def withdraw(
        self, account: str | None, client: Client, *, device: DeviceToken | None = None
    ) -> None:
        keys = self.keys.login(account, client, device)
        scopes = [
            [key for key in (keys.account[0], keys.account[2]) if key],
            keys.address[:1],
        ]
        with redis_errors():
            await asyncio.gather(
                *(self._withdrawn(keys=failures, args=[]) for failures in scopes if failures)
            )

    @traced
    async def clear(self, account: str | None, address_group: str | None) -> int:
        keys = [
            self.keys.key(action, scope, value)
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
                    keys=[self.keys.key(action, scope, value)],
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
