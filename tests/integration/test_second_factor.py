"""TOTP through the real service: enrolment, the second step of Login, codes and tickets.

Codes are computed here with pyotp; the service's clock is steered through the
composition root's ``clock`` seam, so window edges and lifetimes need no waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, unquote, urlsplit

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.client import PASSWORD, failure, login, register, session_metadata, unique_email
from tests.support.error_details import retry_delay_seconds
from tests.support.processes import SUITE_ADDRESS_LIMITS, SUITE_MFA
from tests.support.second_factor import (
    STEP,
    SteppedClock,
    code_at,
    complete,
    enrolled_user,
    steered_application,
    ticket_for,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEAD_TICKET = "the login ticket is not valid: log in again"


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
async def mfa_stub(clock: SteppedClock) -> AsyncIterator[pb_grpc.UserServiceAsyncStub]:
    async with steered_application(clock, mfa={**SUITE_MFA, "issuer": "Example Co"}) as (_, stub):
        yield stub


async def test_enrolment_gives_a_secret_its_uri_and_a_png_of_it(mfa_stub):
    email = unique_email("enrol")
    await register(mfa_stub, email)
    _, session_id = await login(mfa_stub, email)
    enrolled = await mfa_stub.EnrollTotp(
        pb.EnrollTotpRequest(), metadata=session_metadata(session_id)
    )
    uri = urlsplit(enrolled.otpauth_uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/Example Co:{email}"
    assert parse_qs(uri.query)["secret"] == [enrolled.secret]
    assert parse_qs(uri.query)["issuer"] == ["Example Co"]
    assert enrolled.qr_png.startswith(PNG_SIGNATURE)


async def test_enrolling_again_before_confirming_replaces_the_pending_secret(mfa_stub, clock):
    email = unique_email("again")
    await register(mfa_stub, email)
    _, session_id = await login(mfa_stub, email)
    metadata = session_metadata(session_id)
    first = await mfa_stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=metadata)
    second = await mfa_stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=metadata)
    stale = pb.ConfirmTotpRequest(code=code_at(first.secret, clock.now()))
    error = await failure(mfa_stub.ConfirmTotp(stale, metadata=metadata))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    fresh = pb.ConfirmTotpRequest(code=code_at(second.secret, clock.now()))
    confirmed = await mfa_stub.ConfirmTotp(fresh, metadata=metadata)
    assert len(confirmed.recovery_codes) >= 10
    assert len(set(confirmed.recovery_codes)) == len(confirmed.recovery_codes)
    again = await failure(mfa_stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=metadata))
    assert again.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_an_old_client_gets_an_error_naming_the_second_factor_never_a_session(
    mfa_stub, clock
):
    email, _, _ = await enrolled_user(mfa_stub, clock)
    error = await failure(mfa_stub.Login(pb.LoginRequest(email=email, password=PASSWORD)))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "SECOND_FACTOR_REQUIRED"


async def test_a_ticket_and_a_code_make_a_session_listed_as_made_with_a_second_factor(
    mfa_stub, clock
):
    email, secret, _ = await enrolled_user(mfa_stub, clock)
    ticket = await ticket_for(mfa_stub, email)
    completed = await complete(mfa_stub, ticket, code_at(secret, clock.now()))
    assert completed.session_id and completed.device_token and completed.user.email == email
    listed = await mfa_stub.ListSessions(
        pb.ListSessionsRequest(), metadata=session_metadata(completed.session_id)
    )
    made_with = {session.current: session.second_factor for session in listed.sessions}
    # The session of the enrolment was made by the password alone.
    assert made_with == {True: True, False: False}


async def test_codes_one_step_either_side_are_accepted_and_two_steps_off_refused(mfa_stub, clock):
    email, secret, _ = await enrolled_user(mfa_stub, clock)
    now = clock.now()
    for refused in (now - 2 * STEP, now + 2 * STEP):
        ticket = await ticket_for(mfa_stub, email)
        error = await failure(complete(mfa_stub, ticket, code_at(secret, refused)))
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    # Oldest first: each accepted step must come after the last one.
    for accepted in (now - STEP, now, now + STEP):
        ticket = await ticket_for(mfa_stub, email)
        assert (await complete(mfa_stub, ticket, code_at(secret, accepted))).session_id


async def test_a_code_is_accepted_once(mfa_stub, clock):
    email, secret, _ = await enrolled_user(mfa_stub, clock)
    code = code_at(secret, clock.now())
    assert (await complete(mfa_stub, await ticket_for(mfa_stub, email), code)).session_id
    replay = await failure(complete(mfa_stub, await ticket_for(mfa_stub, email), code))
    assert (replay.code(), replay.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "the code is not correct",
    )


async def test_each_recovery_code_works_once_in_any_case(mfa_stub, clock):
    email, _, codes = await enrolled_user(mfa_stub, clock)
    first, second = codes[0], codes[1]
    assert (await complete(mfa_stub, await ticket_for(mfa_stub, email), first)).session_id
    again = await failure(complete(mfa_stub, await ticket_for(mfa_stub, email), first))
    assert again.code() is grpc.StatusCode.UNAUTHENTICATED
    typed = second.replace("-", "").upper()
    assert (await complete(mfa_stub, await ticket_for(mfa_stub, email), typed)).session_id


async def test_a_ticket_is_single_use(mfa_stub, clock):
    email, secret, codes = await enrolled_user(mfa_stub, clock)
    ticket = await ticket_for(mfa_stub, email)
    assert (await complete(mfa_stub, ticket, code_at(secret, clock.now()))).session_id
    error = await failure(complete(mfa_stub, ticket, codes[0]))
    assert error.details() == DEAD_TICKET


async def test_a_ticket_dies_after_five_wrong_codes(mfa_stub, clock):
    email, secret, _ = await enrolled_user(mfa_stub, clock)
    ticket = await ticket_for(mfa_stub, email)
    wrong = code_at(secret, clock.now() + 5 * STEP)
    for _ in range(5):
        error = await failure(complete(mfa_stub, ticket, wrong))
        assert error.details() == "the code is not correct"
    dead = await failure(complete(mfa_stub, ticket, code_at(secret, clock.now())))
    assert (dead.code(), dead.details()) == (grpc.StatusCode.UNAUTHENTICATED, DEAD_TICKET)


async def test_a_ticket_dies_after_its_lifetime(mfa_stub, clock):
    email, secret, _ = await enrolled_user(mfa_stub, clock)
    ticket = await ticket_for(mfa_stub, email)
    clock.advance(10 * STEP)  # 300 s: the default lifetime
    dead = await failure(complete(mfa_stub, ticket, code_at(secret, clock.now())))
    assert (dead.code(), dead.details()) == (grpc.StatusCode.UNAUTHENTICATED, DEAD_TICKET)


async def test_code_guesses_are_throttled_per_account_with_retry_info(clock):
    # No known addresses: the test's one address logged in, which would lift the account's wait.
    throttling = {**SUITE_ADDRESS_LIMITS, "account_free_failures": 2, "known_address_seconds": 0}
    async with steered_application(clock, throttling=throttling) as (_, stub):
        email, secret, _ = await enrolled_user(stub, clock)
        ticket = await ticket_for(stub, email)
        wrong = code_at(secret, clock.now() + 5 * STEP)
        for _ in range(2):
            await failure(complete(stub, ticket, wrong))
        error = await failure(complete(stub, ticket, code_at(secret, clock.now())))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert retry_delay_seconds(error) > 0
