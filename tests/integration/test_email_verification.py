"""Email verification and change of address end to end: the service, a courier in the
test and a real SMTP server (aiosmtpd), the token read from the message received."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from tests.support.client import (
    PASSWORD,
    failure,
    get_me,
    login,
    register,
    session_metadata,
    unique_email,
)
from tests.support.couriers import forget_queued_mail
from tests.support.mail import smtp_server
from tests.support.verification import mail_to, text_of, token_in


@pytest.fixture(autouse=True)
async def empty_outbox(application):
    await forget_queued_mail(application.pool)


async def test_register_sends_a_link_that_verifies_the_address_once(application, stub):
    email = unique_email("verify")
    with smtp_server() as server:
        user = await register(stub, email)
        assert not user.email_verified
        [mail] = await mail_to(server, application.pool, email)
    token = token_in(mail)
    response = await stub.VerifyEmail(pb.VerifyEmailRequest(token=token))
    assert response.user.email_verified
    _, session_id = await login(stub, email)
    assert (await get_me(stub, session_id)).user.email_verified
    replay = await failure(stub.VerifyEmail(pb.VerifyEmailRequest(token=token)))
    assert replay.code() is grpc.StatusCode.FAILED_PRECONDITION
    forged = await failure(stub.VerifyEmail(pb.VerifyEmailRequest(token=token[:-2] + "xx")))
    assert forged.code() is grpc.StatusCode.FAILED_PRECONDITION
    stored = await application.pool.fetch(
        "SELECT token FROM mail_outbox WHERE recipient = $1", email
    )
    assert [row["token"] for row in stored] == [None]
    digests = await application.pool.fetch(
        "SELECT token_digest FROM email_verifications WHERE email = $1", email
    )
    assert digests and all(row["token_digest"] != token for row in digests)


async def test_change_email_applies_when_the_new_address_is_verified_and_tells_the_old(
    application, stub
):
    old, new = unique_email("old"), unique_email("new")
    await register(stub, old)
    _, session_id = await login(stub, old)
    with smtp_server() as server:
        await stub.ChangeEmail(
            pb.ChangeEmailRequest(current_password=PASSWORD, new_email=new),
            metadata=session_metadata(session_id),
        )
        [link] = await mail_to(server, application.pool, new)
        await login(stub, old)  # the old address works until the new one is verified
        changed = await stub.VerifyEmail(pb.VerifyEmailRequest(token=token_in(link)))
        assert changed.user.email == new and changed.user.email_verified
        notices = await mail_to(server, application.pool, old, count=2)
    assert "was changed" in text_of(notices[-1]) and "token=" not in text_of(notices[-1])
    await login(stub, new)
    refused = await failure(stub.Login(pb.LoginRequest(email=old, password=PASSWORD)))
    assert refused.code() is grpc.StatusCode.UNAUTHENTICATED
    assert (await get_me(stub, session_id)).user.email == new


async def test_two_users_racing_for_one_address_one_wins(application, stub):
    wanted = unique_email("wanted")
    tokens = []
    with smtp_server() as server:
        for _ in range(2):
            email = unique_email("racer")
            await register(stub, email)
            _, session_id = await login(stub, email)
            await stub.ChangeEmail(
                pb.ChangeEmailRequest(current_password=PASSWORD, new_email=wanted),
                metadata=session_metadata(session_id),
            )
        mails = await mail_to(server, application.pool, wanted, count=2)
        tokens = [token_in(mail) for mail in mails]
    outcomes = await asyncio.gather(
        *(stub.VerifyEmail(pb.VerifyEmailRequest(token=token)) for token in tokens),
        return_exceptions=True,
    )
    codes = sorted(
        outcome.code().name if isinstance(outcome, grpc.aio.AioRpcError) else "OK"
        for outcome in outcomes
    )
    assert codes == ["ALREADY_EXISTS", "OK"]
