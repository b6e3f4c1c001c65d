"""Login, GetMe and Logout through the real service, with sessions in real Redis."""

# ruff: noqa: F811 (the fixtures imported from redis_deployments are the tests' parameters)

from __future__ import annotations

import asyncio
import base64
import uuid

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.client import (
    PASSWORD,
    code_of,
    login,
    register,
    registered_session,
    session_metadata,
    unique_email,
)
from tests.support.redis_deployments import (  # noqa: F401 (fixtures: one node and a cluster)
    application,
    channel,
    make_application,
    redis,
    redis_sections,
    session_key,
    session_keys,
    stub,
)


async def test_login_returns_the_user_and_a_256_bit_session_id(stub):
    email = unique_email()
    registered = await register(stub, email)
    user, session_id = await login(stub, email.upper())
    assert user.uuid == registered.uuid
    # 32 random bytes in URL-safe base64 without padding, then the route: the user's id.
    secret, route = session_id.split(".")
    assert len(secret) == 43
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert route == uuid.UUID(user.uuid).hex


async def test_login_with_wrong_password_and_unknown_email_look_the_same(stub):
    email = unique_email()
    await register(stub, email)
    failures = []
    for request in (
        pb.LoginRequest(email=email, password="wrong password"),
        pb.LoginRequest(email=unique_email("nobody"), password=PASSWORD),
        pb.LoginRequest(email="not an email", password=PASSWORD),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Login(request)
        failures.append((caught.value.code(), caught.value.details()))
    assert failures[0][0] == grpc.StatusCode.UNAUTHENTICATED
    assert failures[0] == failures[1] == failures[2]


async def test_get_me_accepts_session_id_and_bearer_metadata(stub):
    user, session_id = await registered_session(stub)
    by_key = await stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
    by_bearer = await stub.GetMe(
        pb.GetMeRequest(), metadata=(("authorization", f"Bearer {session_id}"),)
    )
    assert by_key.user.uuid == by_bearer.user.uuid == user.uuid


@pytest.mark.parametrize(
    "metadata",
    [None, (("session_id", "unknown"),), (("authorization", "Basic abc"),)],
)
async def test_get_me_without_a_valid_session_is_unauthenticated(stub, metadata):
    assert await code_of(stub.GetMe(pb.GetMeRequest(), metadata=metadata)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )


async def test_logout_ends_the_session_and_a_second_logout_is_unauthenticated(stub):
    _, session_id = await registered_session(stub)
    metadata = session_metadata(session_id)
    await stub.Logout(pb.LogoutRequest(), metadata=metadata)
    assert await code_of(stub.GetMe(pb.GetMeRequest(), metadata=metadata)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    assert await code_of(stub.Logout(pb.LogoutRequest(), metadata=metadata)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )


async def test_logout_without_a_session_is_unauthenticated(stub):
    assert await code_of(stub.Logout(pb.LogoutRequest())) == grpc.StatusCode.UNAUTHENTICATED


async def test_the_session_is_stored_under_a_digest_never_the_id(
    stub, redis, settings, application
):
    _, session_id = await registered_session(stub)
    prefix = settings.redis.key_prefix
    assert await redis.exists(session_key(application.settings, session_id)) == 1
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    assert not [key for key in keys if session_id.encode() in key]
    for key in keys:
        if await redis.type(key) == b"string":
            assert session_id.encode() not in await redis.get(key)


async def test_using_a_session_slides_its_expiry(stub, redis, settings, application):
    _, session_id = await registered_session(stub)
    key = session_key(application.settings, session_id)
    await redis.expire(key, 60)
    await stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
    assert await redis.ttl(key) > 60
    assert await redis.ttl(key) <= settings.sessions.ttl_seconds


async def test_a_session_expires_after_its_ttl(make_application):
    application = await make_application(sessions={"ttl_seconds": 1})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        short_lived = pb_grpc.UserServiceStub(channel)
        _, session_id = await registered_session(short_lived)
        metadata = session_metadata(session_id)
        await short_lived.GetMe(pb.GetMeRequest(), metadata=metadata)
        await asyncio.sleep(2.0)  # unused for twice its 1 s TTL
        assert await code_of(short_lived.GetMe(pb.GetMeRequest(), metadata=metadata)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )


async def test_login_rehashes_a_password_hashed_with_older_parameters(stub, make_application):
    email = unique_email("rehash")
    await register(stub, email)
    stronger = await make_application(passwords={"time_cost": 3})
    before = await stronger.pool.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stronger.port}") as channel:
        await login(pb_grpc.UserServiceStub(channel), email)
    after = await stronger.pool.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    assert "t=3" not in before  # the suite's application hashes cheaply (t=1)
    assert "t=3" in after
    assert after != before
    # The old service still accepts the password against the new hash.
    await login(stub, email)
