"""RedisLoginThrottle's scripts on the real Redis: what they count, keep and forget."""

# ruff: noqa: F811 (the fixtures imported from redis_deployments are the tests' parameters)

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.adapters.login_secrets import LoginSecrets
from app.adapters.redis.login_throttle import (
    KNOWN_ADDRESSES_PER_ACCOUNT,
    LoginBackoff,
    RedisLoginThrottle,
)
from app.domain.clients import Client
from app.domain.device_tokens import DeviceToken
from app.domain.errors import Throttled
from app.domain.throttling import LimitedAction, ThrottleScope
from app.observability.throttle_metrics import ThrottleMetrics
from tests.support.redis_deployments import (  # noqa: F401 (fixtures: one node and a cluster)
    application,
    redis,
    redis_sections,
)

FORGET_SECONDS = 3600.0


def make_throttle(redis: Redis, settings, successes_per_account: int) -> RedisLoginThrottle:
    """A throttle under a key prefix of the test's own (within the run's)."""
    prefix = f"{settings.redis.key_prefix}throttle-test:{uuid.uuid4().hex[:8]}:"
    return RedisLoginThrottle(
        redis,
        key_prefix=prefix,
        backoff=LoginBackoff(
            account_free_failures=2,
            address_free_failures=3,
            first_wait_seconds=60.0,
            max_wait_seconds=600.0,
            forget_after_seconds=FORGET_SECONDS,
            known_address_seconds=3600.0,
            successes_per_account_per_minute=successes_per_account,
        ),
        actions_per_minute={LimitedAction.REGISTER: 60},
        metrics=ThrottleMetrics(None),
        login_secrets=LoginSecrets(b"store test secret"),
    )


@pytest.fixture
async def throttle(redis: Redis, settings) -> AsyncIterator[RedisLoginThrottle]:
    yield make_throttle(redis, settings, successes_per_account=1000)


def client() -> Client:
    """A fresh documentation address (2001:db8::/32), in a /64 of its own, for each call."""
    value = uuid.uuid4().int
    return Client(address=f"2001:db8:{value & 0xFFFF:x}:{value >> 16 & 0xFFFF:x}::7")


async def failures(redis: Redis, throttle: RedisLoginThrottle, scope: ThrottleScope, value: str):
    raw = await redis.hget(throttle.keys.key(LimitedAction.LOGIN, scope, value), "f")
    return None if raw is None else int(raw)


async def test_refused_attempts_are_not_counted_and_the_block_is_reported_once(redis, throttle):
    account, caller = "ada@example.com", client()
    for _ in range(2):
        await throttle.admit(account, caller)
    first_refusals = []
    for _ in range(5):
        with pytest.raises(Throttled) as refused:
            await throttle.admit(account, caller)
        assert refused.value.scope == "account"
        assert 59 < refused.value.retry_after_seconds <= 60
        first_refusals.append(refused.value.first_refusal)
    assert first_refusals == [True, False, False, False, False]
    assert await failures(redis, throttle, ThrottleScope.ACCOUNT, account) == 2
    assert await failures(redis, throttle, ThrottleScope.ADDRESS, caller.address_group) == 2


async def test_counters_are_forgotten_after_their_quiet_time(redis, throttle):
    account, caller = "ada@example.com", client()
    await throttle.admit(account, caller)
    for scope, value in (
        (ThrottleScope.ACCOUNT, account),
        (ThrottleScope.ADDRESS, caller.address_group),
    ):
        ttl = await redis.pttl(throttle.keys.key(LimitedAction.LOGIN, scope, value))
        assert FORGET_SECONDS * 1000 - 5000 < ttl <= FORGET_SECONDS * 1000


async def test_a_success_clears_the_account_and_takes_back_only_its_own_attempt(redis, throttle):
    caller = client()
    for n in range(2):
        await throttle.admit(f"guess{n}@example.com", caller)
    await throttle.admit("ada@example.com", caller)
    await throttle.succeeded("ada@example.com", caller)
    assert await failures(redis, throttle, ThrottleScope.ACCOUNT, "ada@example.com") is None
    assert await failures(redis, throttle, ThrottleScope.ADDRESS, caller.address_group) == 2


async def test_an_invalid_email_counts_on_the_address_alone(redis, throttle):
    caller = client()
    for _ in range(3):
        await throttle.admit(None, caller)
    with pytest.raises(Throttled) as refused:
        await throttle.admit("ada@example.com", caller)
    assert refused.value.scope == "address"


async def test_an_account_remembers_at_most_its_limit_of_known_addresses(redis, throttle):
    callers = [client() for _ in range(KNOWN_ADDRESSES_PER_ACCOUNT + 5)]
    for caller in callers:
        await throttle.admit("ada@example.com", caller)
        await throttle.succeeded("ada@example.com", caller)
    members = await redis.smembers(throttle.keys.known("ada@example.com"))
    assert len(members) == KNOWN_ADDRESSES_PER_ACCOUNT
    assert callers[-1].address_group.encode() in members


async def test_an_action_rate_admits_its_burst_then_one_per_interval(throttle):
    caller = client()
    for _ in range(60):
        await throttle.admit_action(LimitedAction.REGISTER, caller)
    with pytest.raises(Throttled) as refused:
        await throttle.admit_action(LimitedAction.REGISTER, caller)
    assert refused.value.action == "register"
    assert 0 < refused.value.retry_after_seconds <= 1.0
    await asyncio.sleep(refused.value.retry_after_seconds + 0.02)
    await throttle.admit_action(LimitedAction.REGISTER, caller)
    # An action without a configured rate is not limited.
    for _ in range(100):
        await throttle.admit_action(LimitedAction.CHANGE_PASSWORD, caller)


async def test_no_key_names_the_email(redis, throttle):
    account, caller = "ada@example.com", client()
    device = DeviceToken(id=uuid.uuid4().hex)
    await throttle.admit(account, caller, device=device)
    await throttle.succeeded(account, caller, device=device)
    await throttle.admit(account, caller)
    prefix = throttle.keys.key(LimitedAction.LOGIN, ThrottleScope.ADDRESS, "").rsplit("login:", 1)[
        0
    ]
    keys = [key.decode() async for key in redis.scan_iter(match=f"{prefix}*")]
    assert len(keys) >= 4  # failures, known addresses, and both success rates
    assert not [key for key in keys if "ada" in key or "example" in key]


async def test_a_valid_device_token_lifts_both_waits_until_its_own_free_failures(throttle):
    account, caller = "ada@example.com", client()
    for _ in range(2):
        await throttle.admit(account, caller)
    with pytest.raises(Throttled):
        await throttle.admit(account, caller)
    device = DeviceToken(id=uuid.uuid4().hex)
    # The token's holder gets the account's free failures of its own, then waits too.
    for _ in range(2):
        await throttle.admit(account, caller, device=device)
    with pytest.raises(Throttled) as refused:
        await throttle.admit(account, caller, device=device)
    assert refused.value.scope == "account"


async def test_a_known_address_lifts_one_wait_never_both(throttle):
    account, home = "ada@example.com", client()
    await throttle.admit(account, home)
    await throttle.succeeded(account, home)
    # The address is in back-off (others' failures), the account is not: admitted.
    for n in range(3):
        await throttle.admit(f"guess{n}@example.com", home)
    await throttle.admit(account, home)
    await throttle.admit(account, home)
    # Both in back-off now: the known address lifts neither.
    with pytest.raises(Throttled):
        await throttle.admit(account, home)


async def test_an_attempt_withdrawn_counts_nowhere(redis, throttle):
    account, caller = "ada@example.com", client()
    device = DeviceToken(id=uuid.uuid4().hex)
    await throttle.admit(account, caller, device=device)
    await throttle.admit(account, caller, device=device)
    await throttle.withdraw(account, caller, device=device)
    assert await failures(redis, throttle, ThrottleScope.ACCOUNT, account) == 1
    assert await failures(redis, throttle, ThrottleScope.ADDRESS, caller.address_group) == 1
    assert int(await redis.hget(throttle.keys.device(account, device), "f")) == 1


async def test_clearing_forgets_an_account_and_an_address(redis, throttle):
    account, caller = "ada@example.com", client()
    for _ in range(2):
        await throttle.admit(account, caller)
    with pytest.raises(Throttled) as refused:
        await throttle.admit(account, caller)
    assert refused.value.scope == "account"
    assert await throttle.clear(account, None) == 1
    await throttle.admit(account, caller)
    with pytest.raises(Throttled) as refused:
        await throttle.admit(account, caller)
    assert refused.value.scope == "address"
    assert await throttle.clear(None, caller.address_group) == 1
    assert await failures(redis, throttle, ThrottleScope.ADDRESS, caller.address_group) is None


async def test_successful_logins_are_a_rate_per_account(redis, settings):
    throttle = make_throttle(redis, settings, successes_per_account=2)
    account = "ada@example.com"
    for _ in range(2):
        caller = client()
        await throttle.admit(account, caller)
        await throttle.succeeded(account, caller)
    with pytest.raises(Throttled) as refused:
        await throttle.admit(account, client())
    assert (refused.value.action, refused.value.scope) == ("successful_login", "account")
    assert 0 < refused.value.retry_after_seconds <= 30
