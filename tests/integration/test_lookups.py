"""FindByEmail and FindByID, including the Redis cache-aside and its degradation."""

from __future__ import annotations

import uuid

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.application import use_cases_of
from tests.support.client import (
    admin_session,
    code_of,
    register,
    registered_session,
    session_metadata,
    unique_email,
)
from tests.support.logs import captured_logs


@pytest.fixture
async def session(stub, application) -> tuple[tuple[str, str], ...]:
    """An admin's session: admins may look anyone up."""
    _, session_id = await admin_session(stub, use_cases_of(application).accounts)
    return session_metadata(session_id)


async def test_find_by_email_finds_the_user_in_any_case(stub, session):
    email = unique_email()
    registered = await register(stub, email)
    found = await stub.FindByEmail(pb.FindByEmailRequest(email=email.upper()), metadata=session)
    assert found.user.uuid == registered.uuid


async def test_find_by_id_finds_the_user(stub, session):
    registered = await register(stub)
    found = await stub.FindByID(pb.FindByIDRequest(uuid=registered.uuid), metadata=session)
    assert found.user == registered


@pytest.mark.parametrize(
    "call",
    [
        lambda stub, md: stub.FindByEmail(
            pb.FindByEmailRequest(email="a@example.com"), metadata=md
        ),
        lambda stub, md: stub.FindByID(pb.FindByIDRequest(uuid=str(uuid.uuid4())), metadata=md),
    ],
    ids=["FindByEmail", "FindByID"],
)
@pytest.mark.parametrize("metadata", [None, (("session_id", "forged"),)], ids=["none", "forged"])
async def test_lookups_without_a_valid_session_are_unauthenticated(stub, call, metadata):
    assert await code_of(call(stub, metadata)) == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda s, md: s.FindByEmail(pb.FindByEmailRequest(email="@@"), metadata=md),
            "INVALID_ARGUMENT",
        ),
        (
            lambda s, md: s.FindByEmail(pb.FindByEmailRequest(email="x\x00@a.io"), metadata=md),
            "INVALID_ARGUMENT",
        ),
        (
            lambda s, md: s.FindByID(pb.FindByIDRequest(uuid="not-a-uuid"), metadata=md),
            "INVALID_ARGUMENT",
        ),
        (
            lambda s, md: s.FindByEmail(
                pb.FindByEmailRequest(email=unique_email("none")), metadata=md
            ),
            "NOT_FOUND",
        ),
        (
            lambda s, md: s.FindByID(pb.FindByIDRequest(uuid=str(uuid.uuid4())), metadata=md),
            "NOT_FOUND",
        ),
    ],
    ids=["email-malformed", "email-nul", "uuid-malformed", "email-unknown", "uuid-unknown"],
)
async def test_lookup_errors_have_clear_codes(stub, session, call, expected):
    assert (await code_of(call(stub, session))).name == expected


async def test_find_by_id_reads_through_the_cache(stub, session, application, redis, settings):
    registered = await register(stub)
    key = f"{settings.redis.key_prefix}user:{registered.uuid}"
    assert await redis.exists(key) == 0
    await stub.FindByID(pb.FindByIDRequest(uuid=registered.uuid), metadata=session)
    assert await redis.exists(key) == 1
    assert 0 < await redis.ttl(key) <= settings.cache.user_ttl_seconds
    # Change the row behind the cache's back: a hit still answers from Redis.
    await application.pool.execute(
        "UPDATE users SET first_name = 'Changed' WHERE id = $1", uuid.UUID(registered.uuid)
    )
    cached = await stub.FindByID(pb.FindByIDRequest(uuid=registered.uuid), metadata=session)
    assert cached.user.first_name == registered.first_name
    await redis.delete(key)
    fresh = await stub.FindByID(pb.FindByIDRequest(uuid=registered.uuid), metadata=session)
    assert fresh.user.first_name == "Changed"


async def test_a_dead_cache_degrades_to_postgres_and_is_logged(stub, make_application):
    # Sessions work (the run's Redis); the cache points at a port nobody listens on.
    application = await make_application(cache={"redis_url": "redis://127.0.0.1:1/0"})
    with captured_logs() as captured:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            degraded = pb_grpc.UserServiceStub(channel)
            registered, session_id = await registered_session(degraded)
            found = await degraded.FindByID(
                pb.FindByIDRequest(uuid=registered.uuid), metadata=session_metadata(session_id)
            )
    assert found.user.uuid == registered.uuid
    assert "user cache read failed" in captured.text
    assert "user cache write failed" in captured.text
