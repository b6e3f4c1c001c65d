"""Where the service's keys land on a Redis Cluster: one slot per user, account and address.

Each atomic step's keys share a hash tag, so a user's (sessions, index,
principal, waiting events), an account's and an address's (throttle counters)
each land in one slot, and the tags spread: many users land on every master.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from app.adapters.login_secrets import LoginSecrets
from app.adapters.redis.login_throttle import LoginBackoff, RedisLoginThrottle
from app.adapters.redis.login_tickets import RedisLoginTickets
from app.adapters.redis.user_cache import UserRedisCache
from app.domain.clients import Client
from app.domain.device_tokens import DeviceToken
from app.domain.errors import Throttled
from app.domain.second_factor import PendingLogin
from app.domain.throttling import LimitedAction, ThrottleScope
from app.domain.users import Role, User
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from app.observability.throttle_metrics import ThrottleMetrics
from tests.support.application import running_application
from tests.support.client import login, register, unique_email
from tests.support.redis_cluster import ThrowawayRedisCluster
from tests.support.redis_deployments import session_key, session_keys

USERS = 30  # on three masters, all on two of them by chance: 3 * (2/3)**30 < 1e-5


@pytest.fixture
async def on_cluster(redis_cluster: ThrowawayRedisCluster) -> AsyncIterator[Application]:
    async with running_application(redis={"url": redis_cluster.url, "cluster": True}) as service:
        yield service


async def test_a_users_keys_share_one_slot_and_users_spread_over_every_master(
    on_cluster: Application, redis_cluster: ThrowawayRedisCluster
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{on_cluster.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        emails = [unique_email("layout") for _ in range(USERS)]
        users = await asyncio.gather(*(register(stub, email) for email in emails))
        sessions = await asyncio.gather(*(login(stub, email) for email in emails))
    keys = session_keys(on_cluster.settings)
    masters = set()
    for user, (_, session_id) in zip(users, sessions, strict=True):
        user_id = uuid.UUID(user.uuid)
        named = [
            session_key(on_cluster.settings, session_id),
            keys.index(user_id),
            keys.principal(user_id),
            keys.waiting_events(user_id),
        ]
        slots = {redis_cluster.slot_of(key) for key in named}
        assert len(slots) == 1, named
        client = redis_cluster.cluster_client()
        try:
            assert await client.exists(*named[:3]) == 3  # the session, its index, the principal
        finally:
            await client.aclose()
        masters.add(redis_cluster.master_for_slot(slots.pop()).port)
    assert masters == {node.port for node in redis_cluster.masters()}


async def test_an_accounts_and_an_addresss_throttle_keys_each_share_one_slot(
    on_cluster: Application, redis_cluster: ThrowawayRedisCluster
) -> None:
    client = redis_cluster.cluster_client()
    throttle = RedisLoginThrottle(
        client,
        key_prefix=on_cluster.settings.redis.key_prefix,
        backoff=LoginBackoff(
            account_free_failures=1,
            address_free_failures=1,
            first_wait_seconds=60.0,
            max_wait_seconds=600.0,
            forget_after_seconds=600.0,
            known_address_seconds=600.0,
        ),
        actions_per_minute={},
        metrics=ThrottleMetrics(None),
        login_secrets=LoginSecrets(b"layout test secret"),
    )
    try:
        account, caller = "ada@example.com", Client(address="2001:db8:1:2::7")
        device = DeviceToken(id=uuid.uuid4().hex)
        await throttle.admit(account, caller, device=device)
        await throttle.succeeded(account, caller, device=device)
        await throttle.admit(account, caller, device=device)
        with pytest.raises(Throttled):
            await throttle.admit(account, Client(address="2001:db8:9:9::7"))
        keys = throttle.keys
        login, success = LimitedAction.LOGIN, LimitedAction.SUCCESSFUL_LOGIN
        by_account = [
            keys.key(login, ThrottleScope.ACCOUNT, account),
            keys.key(success, ThrottleScope.ACCOUNT, account),
            keys.known(account),
            keys.device(account, device),
        ]
        address = caller.address_group
        by_address = [
            keys.key(login, ThrottleScope.ADDRESS, address),
            keys.key(success, ThrottleScope.ADDRESS, address),
        ]
        for scope in (by_account, by_address):
            assert len({redis_cluster.slot_of(key) for key in scope}) == 1, scope
            assert await client.exists(*scope) == len(scope)
        assert redis_cluster.slot_of(by_account[0]) != redis_cluster.slot_of(by_address[0])
    finally:
        await client.aclose()


async def test_login_tickets_and_the_user_cache_work_on_the_cluster(
    redis_cluster: ThrowawayRedisCluster,
) -> None:
    client = redis_cluster.cluster_client()
    prefix = f"cluster-single-keys:{uuid.uuid4().hex[:8]}:"
    try:
        tickets = RedisLoginTickets(client, key_prefix=prefix, lifetime_seconds=60)
        pending = PendingLogin(
            user_id=uuid.uuid4(),
            account="ada@example.com",
            sessions_epoch=3,
            expires_at=datetime.now(UTC) + timedelta(minutes=1),
        )
        await tickets.issue("a-ticket", pending)  # a transaction of one key's commands
        assert await tickets.get("a-ticket") == pending
        await tickets.wrong_code("a-ticket", limit=1)
        assert await tickets.get("a-ticket") is None
        cache = UserRedisCache(client, key_prefix=prefix, ttl_seconds=60)
        now = datetime.now(UTC)
        user = User(uuid.uuid4(), "ada@example.com", "Ada", "L", Role.USER, None, now, now)
        await cache.put(user)
        assert await cache.get(user.id) == user
        await cache.delete(user.id)
        assert await cache.get(user.id) is None
    finally:
        await client.aclose()
