"""Verification's rules through a service of the test's own: an expired link (its clock
moved on), ResendVerification's throttle, Login requiring a verified address, and no
token in logs or events."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from app.bootstrap import build_application
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import RUN_ID, make_settings
from tests.support.client import (
    PASSWORD,
    failure,
    login,
    register,
    session_metadata,
    unique_email,
)
from tests.support.couriers import forget_queued_mail
from tests.support.error_details import reason_of, retry_delay_seconds
from tests.support.logs import captured_logs
from tests.support.mail import smtp_server
from tests.support.passwords import cheap_passwords_for
from tests.support.verification import mail_to, token_in

DAY = timedelta(days=1)


class _MovableClock:
    """The system's time plus an offset a test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@contextlib.asynccontextmanager
async def _service(
    clock: _MovableClock | None = None, **sections: dict[str, Any]
) -> AsyncIterator[tuple[Application, pb_grpc.UserServiceAsyncStub]]:
    """A service on this run's stores with ``sections`` over the suite's settings, and
    Redis keys of its own (under the run's prefix): throttles start afresh."""
    prefix = f"test:{RUN_ID}:verification-{uuid.uuid4().hex[:8]}:"
    settings = make_settings(redis={"key_prefix": prefix}, **sections)
    application = await build_application(
        settings, passwords=cheap_passwords_for(settings), clock=clock
    )
    await application.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            await forget_queued_mail(application.pool)
            stub: pb_grpc.UserServiceAsyncStub = pb_grpc.UserServiceStub(channel)
            yield application, stub
    finally:
        await application.stop(grace=0.5)


async def test_a_link_dies_after_its_lifetime():
    clock = _MovableClock()
    async with _service(clock) as (application, stub):
        email = unique_email("late")
        with smtp_server() as server:
            await register(stub, email)
            [mail] = await mail_to(server, application.pool, email)
        clock.offset = DAY + timedelta(seconds=1)
        late = await failure(stub.VerifyEmail(pb.VerifyEmailRequest(token=token_in(mail))))
    assert late.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(late) == "INVALID_VERIFICATION_TOKEN"


async def test_resend_is_throttled_with_a_retry_delay_and_sends_a_new_link():
    async with _service(verification={"resend_per_minute": 1}) as (application, stub):
        email = unique_email("resend")
        await register(stub, email)
        _, session_id = await login(stub, email)
        metadata = session_metadata(session_id)
        with smtp_server() as server:
            await stub.ResendVerification(pb.ResendVerificationRequest(), metadata=metadata)
            first, second = await mail_to(server, application.pool, email, count=2)
        refused = await failure(
            stub.ResendVerification(pb.ResendVerificationRequest(), metadata=metadata)
        )
        assert refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay_seconds(refused) > 0
        # Only the newest link is valid.
        stale = await failure(stub.VerifyEmail(pb.VerifyEmailRequest(token=token_in(first))))
        assert stale.code() is grpc.StatusCode.FAILED_PRECONDITION
        await stub.VerifyEmail(pb.VerifyEmailRequest(token=token_in(second)))
        done = await failure(
            stub.ResendVerification(pb.ResendVerificationRequest(), metadata=metadata)
        )
    assert done.code() is grpc.StatusCode.RESOURCE_EXHAUSTED  # the throttle is asked first


async def test_login_requiring_a_verified_address_tells_only_a_right_password():
    async with _service(verification={"required_for_login": True}) as (application, stub):
        email = unique_email("unverified")
        with smtp_server() as server:
            await register(stub, email)
            wrong = await failure(
                stub.Login(pb.LoginRequest(email=email, password="not the password at all"))
            )
            assert wrong.code() is grpc.StatusCode.UNAUTHENTICATED
            right = await failure(stub.Login(pb.LoginRequest(email=email, password=PASSWORD)))
            assert right.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert reason_of(right) == "EMAIL_NOT_VERIFIED"
            mails = await mail_to(server, application.pool, email, count=2)  # one more link
        await stub.VerifyEmail(pb.VerifyEmailRequest(token=token_in(mails[-1])))
        user, session_id = await login(stub, email)
    assert user.email_verified and session_id


async def test_no_token_in_logs_events_or_stored_messages(application, stub):
    email = unique_email("secret")
    with captured_logs() as logs, smtp_server() as server:
        await register(stub, email)
        [mail] = await mail_to(server, application.pool, email)
        token = token_in(mail)
        await stub.VerifyEmail(pb.VerifyEmailRequest(token=token))
    assert token not in logs.text
    pool = application.pool
    events = await pool.fetch("SELECT data::text AS data FROM event_outbox")
    assert events and all(token not in row["data"] for row in events)
    stored = await pool.fetch("SELECT * FROM mail_outbox WHERE recipient = $1", email)
    assert stored and all(token not in str(dict(row)) for row in stored)
    verifications = await pool.fetch("SELECT * FROM email_verifications WHERE email = $1", email)
    assert verifications and all(token not in str(dict(row)) for row in verifications)


@pytest.fixture(autouse=True)
async def empty_outbox(application):
    await forget_queued_mail(application.pool)
