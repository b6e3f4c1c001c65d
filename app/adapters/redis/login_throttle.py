"""RedisLoginThrottle: login back-off per account and per address, action rates per address.

Logins (after Keycloak's brute-force detection): each key (``account`` = the
canonical email, ``address`` = the client's IP) holds its failure count and
the time of its last counted attempt. Once the count reaches the scope's free
failures, the next attempt must wait ``first_wait``, doubled for every further
failure, at most ``max_wait``; a key untouched for ``forget_after`` expires.
One script checks both keys and, if neither must wait, counts the attempt on
both: parallel guesses cannot slip past. Every attempt counts as a failure
until ``succeeded``: that deletes the account's key, takes the attempt back
from the address's, and remembers the address as known to the account. The
account's wait does not apply at a known address (its own address limit
does): someone guessing from elsewhere cannot keep the owner out.

Actions (Register, ChangePassword): a per-address rate with a burst, as the
generic cell rate algorithm (GCRA) computes it: one key per address holds the
"theoretical arrival time"; ``per_minute`` calls at once, then one every
``60 / per_minute`` seconds.

Both scripts read the clock of Redis (``TIME``), so several instances agree.
Keys: ``<prefix>throttle:<action>:<scope>:<value>``. Single Redis: the login
script touches two keys, which on Redis Cluster would need one hash slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from app.adapters.redis.errors import redis_errors
from app.domain.clients import Client
from app.domain.errors import Throttled
from app.domain.throttling import LimitedAction, ThrottleScope
from app.observability.metrics import ThrottleMetrics
from app.observability.tracing import traced

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: the counters to check (account and/or address), then, when both are
# given, the account's set of known addresses. ARGV: first wait, max wait,
# forget after (all ms), the client's address, then each counter's free
# failures. Fields: f = failures, t = ms of the last counted attempt, r = the
# t whose block was reported. The account's wait does not apply to an address
# the account logged in from before (the address's own wait still does).
# Returns {0} when admitted, else {remaining ms, index of the key, first refusal 0/1}.
_ADMIT_LOGIN = (
    _NOW_MS
    + """
local first_wait, max_wait, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local counters = #ARGV - 4
local known = KEYS[counters + 1]
local longest, refusing = 0, 0
for i = 1, counters do
    local state = redis.call('HMGET', KEYS[i], 'f', 't')
    local failures, free = tonumber(state[1] or '0'), tonumber(ARGV[4 + i])
    local exempt = i == 1 and known and redis.call('SISMEMBER', known, ARGV[4]) == 1
    if failures >= free and not exempt then
        local wait = math.min(first_wait * 2 ^ (failures - free), max_wait)
        local remaining = tonumber(state[2]) + wait - now
        if remaining > longest then
            longest, refusing = remaining, i
        end
    end
end
if refusing > 0 then
    local key = KEYS[refusing]
    local blocked_at = redis.call('HGET', key, 't')
    local first = 0
    if redis.call('HGET', key, 'r') ~= blocked_at then
        redis.call('HSET', key, 'r', blocked_at)
        first = 1
    end
    return {math.ceil(longest), refusing, first}
end
for i = 1, counters do
    redis.call('HINCRBY', KEYS[i], 'f', 1)
    redis.call('HSET', KEYS[i], 't', now)
    redis.call('PEXPIRE', KEYS[i], forget)
end
return {0}
"""
)

# KEYS[1]: the account's counter (deleted); KEYS[2], KEYS[3], if given: the
# address's counter (one failure taken back) and the account's known addresses
# (this one added, kept ARGV[2] ms, at most ARGV[3] of them). ARGV[1]: the address.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if KEYS[2] and tonumber(redis.call('HGET', KEYS[2], 'f') or '0') > 0 then
    redis.call('HINCRBY', KEYS[2], 'f', -1)
end
if KEYS[3] and tonumber(ARGV[2]) > 0 then
    if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0
        and redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[3]) then
        redis.call('SPOP', KEYS[3])
    end
    redis.call('SADD', KEYS[3], ARGV[1])
    redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return 1
"""

# KEYS[1]: the action's key for the address. ARGV: emission interval (ms), limit.
# Returns 0 when admitted, else the ms until the next call would be.
_ADMIT_ACTION = (
    _NOW_MS
    + """
local interval, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local arrival = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local next_arrival = arrival + interval
local allowed_at = next_arrival - interval * limit
if allowed_at > now then
    return math.ceil(allowed_at - now)
end
redis.call('SET', KEYS[1], next_arrival, 'PX', math.ceil(next_arrival - now))
return 0
"""
)


@dataclass(frozen=True, slots=True)
class LoginBackoff:
    """The login limits: free failures per scope, then a doubling wait, all in seconds."""

    account_free_failures: int
    address_free_failures: int
    first_wait_seconds: float
    max_wait_seconds: float
    forget_after_seconds: float
    # How long an address the account logged in from stays exempt from the
    # account's wait (0: never exempt).
    known_address_seconds: float


# The most known addresses kept per account (one random one makes room).
KNOWN_ADDRESSES_PER_ACCOUNT = 20


def _milliseconds(seconds: float) -> int:
    return max(round(seconds * 1000), 1)


class RedisLoginThrottle:
    """Satisfies ``LoginThrottle``; counts refusals in ``metrics``.

    ``actions_per_minute`` gives each limited action (``register``,
    ``change_password``) its rate per client address; an action without a
    rate is not limited.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        key_prefix: str,
        backoff: LoginBackoff,
        actions_per_minute: Mapping[LimitedAction, int],
        metrics: ThrottleMetrics,
    ) -> None:
        self._prefix = f"{key_prefix}throttle:"
        self._backoff = backoff
        self._actions_per_minute = dict(actions_per_minute)
        self._metrics = metrics
        self._admit_login = redis.register_script(_ADMIT_LOGIN)
        self._succeeded = redis.register_script(_SUCCEEDED)
        self._admit_action = redis.register_script(_ADMIT_ACTION)
        metrics.initialize(
            [(LimitedAction.LOGIN.value, scope.value) for scope in ThrottleScope]
            + [(action.value, ThrottleScope.ADDRESS.value) for action in self._actions_per_minute]
        )

    def key(self, action: LimitedAction, scope: ThrottleScope, value: str) -> str:
        return f"{self._prefix}{action.value}:{scope.value}:{value}"

    def known_key(self, account: str) -> str:
        return f"{self._prefix}{LimitedAction.LOGIN.value}:known:{account}"

    @traced
    async def admit(self, account: str | None, client: Client) -> None:
        backoff = self._backoff
        scopes: list[tuple[ThrottleScope, str, int]] = []
        if account is not None:
            scopes.append((ThrottleScope.ACCOUNT, account, backoff.account_free_failures))
        if client.address:
            scopes.append((ThrottleScope.ADDRESS, client.address, backoff.address_free_failures))
        if not scopes:
            return
        keys = [self.key(LimitedAction.LOGIN, scope, value) for scope, value, _ in scopes]
        if len(scopes) == 2 and account is not None:
            keys.append(self.known_key(account))
        with redis_errors():
            answer = await self._admit_login(
                keys=keys,
                args=[
                    _milliseconds(backoff.first_wait_seconds),
                    _milliseconds(backoff.max_wait_seconds),
                    _milliseconds(backoff.forget_after_seconds),
                    client.address,
                    *(free for _, _, free in scopes),
                ],
            )
        remaining_ms = int(answer[0])
        if remaining_ms > 0:
            scope = scopes[int(answer[1]) - 1][0]
            self._refuse(LimitedAction.LOGIN, scope, remaining_ms, first=bool(int(answer[2])))

    @traced
    async def succeeded(self, account: str, client: Client) -> None:
        keys = [self.key(LimitedAction.LOGIN, ThrottleScope.ACCOUNT, account)]
        if client.address:
            keys.append(self.key(LimitedAction.LOGIN, ThrottleScope.ADDRESS, client.address))
            keys.append(self.known_key(account))
        remembered = self._backoff.known_address_seconds
        with redis_errors():
            await self._succeeded(
                keys=keys,
                args=[
                    client.address,
                    round(remembered * 1000),
                    KNOWN_ADDRESSES_PER_ACCOUNT,
                ],
            )

    @traced
    async def admit_action(self, action: LimitedAction, client: Client) -> None:
        per_minute = self._actions_per_minute.get(action)
        if per_minute is None or not client.address:
            return
        with redis_errors():
            remaining_ms = int(
                await self._admit_action(
                    keys=[self.key(action, ThrottleScope.ADDRESS, client.address)],
                    args=[60_000 / per_minute, per_minute],
                )
            )
        if remaining_ms > 0:
            self._refuse(action, ThrottleScope.ADDRESS, remaining_ms, first=False)

    def _refuse(
        self, action: LimitedAction, scope: ThrottleScope, remaining_ms: int, *, first: bool
    ) -> None:
        self._metrics.refused(action.value, scope.value)
        raise Throttled(
            remaining_ms / 1000, action=action.value, scope=scope.value, first_refusal=first
        )
