"""Every error path answers one ErrorInfo with its catalogued reason, through a real channel.

docs/errors.md lists the reasons; ``tests/unit/test_error_status.py`` checks the
table itself. Here each path is driven as a client meets it: invalid and
weak input, unknown users and sessions, missing sessions and rights, a taken
email, a throttle, a method at its limit, a Redis that is down, an
undecodable body and a store that refuses a command.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from app.adapters.redis.sessions import digest_of
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.grpc.service_contract import SERVICE_NAME
from tests.support.application import use_cases_of
from tests.support.client import (
    PASSWORD,
    admin_session,
    failure,
    get_me,
    register,
    registered_session,
    session_metadata,
    unique_email,
)
from tests.support.error_details import (
    field_violation,
    reason_of,
    retry_delay_seconds,
)
from tests.support.passwords import HeldVerifications
from tests.support.throttling import SMALL, WRONG, address, from_address, instance
from tests.support.throwaway import ThrowawayRedis

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def test_an_invalid_field_is_invalid_field_and_named_in_a_bad_request(stub):
    error = await failure(register(stub, "not an email"))
    assert (error.code(), reason_of(error)) == (INVALID, "INVALID_FIELD")
    assert field_violation(error).field == "email"


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaaaaaa", "password1", "qwertyuiop", "adalovelace1815", "lovelace1815", "example2024"],
)
async def test_a_weak_password_is_refused_at_register_and_says_why(stub, password):
    email = unique_email("ada.king")
    error = await failure(register(stub, email, password=password))
    assert (error.code(), reason_of(error)) == (INVALID, "WEAK_PASSWORD")
    violation = field_violation(error)
    assert violation.field == "password"
    assert violation.description.startswith("password: is too easy to guess. ")
    assert password not in violation.description


async def test_a_weak_new_password_made_of_the_callers_email_is_refused(stub):
    email = unique_email("grace.hopper")
    await register(stub, email, first_name="Grace", last_name="Hopper")
    _, session_id = await registered_session_for(stub, email)
    weak = "gracehopper2024"
    error = await failure(
        stub.ChangePassword(
            pb.ChangePasswordRequest(current_password=PASSWORD, new_password=weak),
            metadata=session_metadata(session_id),
        )
    )
    assert reason_of(error) == "WEAK_PASSWORD"
    assert field_violation(error).field == "new_password"
    # The same password is fine for someone it says nothing about.
    assert (await register(stub, password=weak, first_name="Ada")).uuid


async def registered_session_for(stub: pb_grpc.UserServiceAsyncStub, email: str) -> Any:
    response = await stub.Login(pb.LoginRequest(email=email, password=PASSWORD))
    return response.user, response.session_id


async def test_each_refusal_of_a_plain_call_has_its_reason(application, stub):
    email = unique_email("reasons")
    await register(stub, email)
    _, session_id = await registered_session(stub)
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    as_user, as_admin = session_metadata(session_id), session_metadata(admin)
    calls = {
        "EMAIL_TAKEN": register(stub, email),
        "USER_NOT_FOUND": stub.FindByID(
            pb.FindByIDRequest(uuid=str(uuid.uuid4())), metadata=as_admin
        ),
        "SESSION_NOT_FOUND": stub.RevokeSession(
            pb.RevokeSessionRequest(handle="a" * 32), metadata=as_user
        ),
        "INVALID_CREDENTIALS": stub.Login(pb.LoginRequest(email=email, password=WRONG)),
        "WRONG_CURRENT_PASSWORD": stub.ChangePassword(
            pb.ChangePasswordRequest(current_password=WRONG, new_password=PASSWORD * 2),
            metadata=as_user,
        ),
        "SESSION_REQUIRED": stub.GetMe(pb.GetMeRequest()),
        "PERMISSION_DENIED": stub.SetUserRole(
            pb.SetUserRoleRequest(uuid=str(uuid.uuid4()), role="admin"), metadata=as_user
        ),
    }
    reasons = {expected: reason_of(await failure(call)) for expected, call in calls.items()}
    assert reasons == {expected: expected for expected in calls}


async def test_a_throttled_login_is_too_many_attempts_with_retry_info():
    async with instance(SMALL) as service:
        email, client = unique_email("throttled"), from_address(address())
        await register(service.stub, email)
        for _ in range(int(SMALL["account_free_failures"])):
            await failure(
                service.stub.Login(pb.LoginRequest(email=email, password=WRONG), metadata=client)
            )
        error = await failure(
            service.stub.Login(pb.LoginRequest(email=email, password=WRONG), metadata=client)
        )
    assert (error.code(), reason_of(error)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "TOO_MANY_ATTEMPTS",
    )
    assert retry_delay_seconds(error) > 0


async def test_a_method_at_its_limit_is_server_busy_with_retry_info(make_application, monkeypatch):
    application = await make_application(grpc={"method_concurrency": {"Login": 1}})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        email = unique_email("busy")
        await register(stub, email)
        checks = HeldVerifications(application.passwords, monkeypatch)
        held = asyncio.ensure_future(stub.Login(pb.LoginRequest(email=email, password=PASSWORD)))
        await checks.wait_for(1)
        error = await failure(stub.Login(pb.LoginRequest(email=email, password=PASSWORD)))
        checks.release()
        await held
    assert (error.code(), reason_of(error)) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "SERVER_BUSY")
    assert retry_delay_seconds(error) == 1.0


async def test_a_stopped_redis_is_store_unavailable(make_application):
    async with ThrowawayRedis() as redis:
        application = await make_application(redis={"url": redis.url})
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            stub = pb_grpc.UserServiceStub(channel)
            _, session_id = await registered_session(stub)
            redis.kill()
            error = await failure(
                stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id), timeout=10)
            )
    assert (error.code(), reason_of(error)) == (grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE")


async def test_an_undecodable_body_is_malformed_request(channel):
    call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        f"/{SERVICE_NAME}/GetMe", request_serializer=None, response_deserializer=None
    )
    error = await failure(call(b"\xff\xff\xff"))
    assert (error.code(), reason_of(error)) == (INVALID, "MALFORMED_REQUEST")
    assert field_violation(error).field == ""


async def test_a_store_that_refuses_a_command_is_internal(application, stub, redis):
    _, session_id = await registered_session(stub)
    key = f"{application.settings.redis.key_prefix}session:{digest_of(session_id)}"
    await redis.delete(key)
    await redis.rpush(key, "not a session")
    error = await failure(get_me(stub, session_id))
    await redis.delete(key)
    assert (error.code(), reason_of(error)) == (grpc.StatusCode.INTERNAL, "INTERNAL")


def _get_me_as_a_stream(channel: grpc.aio.Channel) -> Any:
    """GetMe sent as a client stream, so a test chooses when (or whether) its request goes."""
    return channel.stream_unary(
        f"/{SERVICE_NAME}/GetMe",
        request_serializer=pb.GetMeRequest.SerializeToString,
        response_deserializer=pb.GetMeResponse.FromString,
    )


async def test_a_call_closed_without_its_request_is_malformed_request(channel):
    error = await failure(_get_me_as_a_stream(channel)(iter(()), timeout=5))
    assert (error.code(), reason_of(error)) == (INVALID, "MALFORMED_REQUEST")


async def test_a_request_that_comes_too_late_is_request_not_received(make_application):
    application = await make_application(grpc={"receive_timeout_seconds": 0.3})

    async def late() -> AsyncIterator[pb.GetMeRequest]:
        await asyncio.sleep(5)  # cancelled when the call ends, after the 0.3 s
        yield pb.GetMeRequest()

    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        error = await failure(_get_me_as_a_stream(channel)(late(), timeout=10))
    assert (error.code(), reason_of(error)) == (
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "REQUEST_NOT_RECEIVED",
    )
