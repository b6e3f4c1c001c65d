"""The policy that makes admins enrol, the step-up code of sensitive changes, and an
admin's ResetUserMfa, through the real service on a steered clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import use_cases_of
from tests.support.client import (
    PASSWORD,
    admin_session,
    failure,
    login,
    register,
    session_metadata,
    unique_email,
)
from tests.support.error_details import reason_of
from tests.support.processes import SUITE_MFA
from tests.support.second_factor import (
    STEP,
    SteppedClock,
    code_at,
    complete,
    enrolled_user,
    steered_application,
    ticket_for,
)

NEW_PASSWORD = "an entirely new passphrase 7"
Served = tuple[Application, "pb_grpc.UserServiceAsyncStub"]


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


def _served(clock: SteppedClock, required_roles: list[str]) -> Any:
    return steered_application(clock, mfa={**SUITE_MFA, "required_roles": required_roles})


@pytest.fixture
async def policed(clock: SteppedClock) -> AsyncIterator[Served]:
    async with _served(clock, ["admin"]) as served:
        yield served


def _list_users(stub: pb_grpc.UserServiceAsyncStub, session_id: str) -> Any:
    return stub.ListUsers(pb.ListUsersRequest(page_size=1), metadata=session_metadata(session_id))


async def test_an_admin_without_a_factor_is_refused_until_it_enrols(policed, clock):
    application, stub = policed
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    refused = await failure(_list_users(stub, admin))
    assert refused.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(refused) == "SECOND_FACTOR_ENROLMENT_REQUIRED"
    other = unique_email("target")
    await register(stub, other)
    user_id = (await login(stub, other))[0].uuid
    revoke = pb.RevokeUserSessionsRequest(uuid=user_id)
    also = await failure(stub.RevokeUserSessions(revoke, metadata=session_metadata(admin)))
    assert reason_of(also) == "SECOND_FACTOR_ENROLMENT_REQUIRED"
    another_admin = pb.RegisterRequest(
        email=unique_email("second-admin"),
        first_name="Second",
        last_name="Admin",
        password=PASSWORD,
        role="admin",
    )
    registering = await failure(stub.Register(another_admin, metadata=session_metadata(admin)))
    assert reason_of(registering) == "SECOND_FACTOR_ENROLMENT_REQUIRED"

    metadata = session_metadata(admin)
    enrolled = await stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=metadata)
    confirm = pb.ConfirmTotpRequest(code=code_at(enrolled.secret, clock.now()))
    await stub.ConfirmTotp(confirm, metadata=metadata)
    assert len((await _list_users(stub, admin)).users) == 1
    assert (await stub.RevokeUserSessions(revoke, metadata=metadata)).ended == 1


async def test_an_empty_list_of_roles_turns_the_policy_off(clock):
    async with _served(clock, []) as (application, stub):
        _, admin = await admin_session(stub, use_cases_of(application).accounts)
        assert len((await _list_users(stub, admin)).users) == 1


async def _session_with_factor(stub: pb_grpc.UserServiceAsyncStub, clock: SteppedClock) -> Any:
    email, secret, codes = await enrolled_user(stub, clock)
    completed = await complete(stub, await ticket_for(stub, email), codes[0])
    return email, secret, completed


def _change(code: str = "") -> pb.ChangePasswordRequest:
    return pb.ChangePasswordRequest(
        current_password=PASSWORD, new_password=NEW_PASSWORD, totp_code=code
    )


async def test_change_password_of_an_enrolled_user_needs_a_current_code(policed, clock):
    _, stub = policed
    email, secret, completed = await _session_with_factor(stub, clock)
    metadata = session_metadata(completed.session_id)
    missing = await failure(stub.ChangePassword(_change(), metadata=metadata))
    wrong_code = code_at(secret, clock.now() + 5 * STEP)
    wrong = await failure(stub.ChangePassword(_change(wrong_code), metadata=metadata))
    for refused in (missing, wrong):
        assert refused.code() is grpc.StatusCode.UNAUTHENTICATED
        assert reason_of(refused) == "INVALID_CODE"
    # Nothing changed: the old password still gives a ticket.
    assert await ticket_for(stub, email)
    right = code_at(secret, clock.now())
    await stub.ChangePassword(_change(right), metadata=metadata)
    old = await failure(
        stub.Login(pb.LoginRequest(email=email, password=PASSWORD, second_factor_supported=True))
    )
    assert old.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_change_password_without_a_factor_needs_no_code(policed):
    _, stub = policed
    email = unique_email("plain")
    await register(stub, email)
    _, session_id = await login(stub, email)
    await stub.ChangePassword(_change(), metadata=session_metadata(session_id))
    assert (await login(stub, email, password=NEW_PASSWORD))[1]


async def test_delete_account_of_an_enrolled_user_needs_a_current_code(policed, clock):
    _, stub = policed
    email, secret, completed = await _session_with_factor(stub, clock)
    metadata = session_metadata(completed.session_id)
    request = pb.DeleteAccountRequest(current_password=PASSWORD)
    refused = await failure(stub.DeleteAccount(request, metadata=metadata))
    assert reason_of(refused) == "INVALID_CODE"
    assert await ticket_for(stub, email)  # still there
    request.totp_code = code_at(secret, clock.now())
    await stub.DeleteAccount(request, metadata=metadata)
    gone = await failure(
        stub.Login(pb.LoginRequest(email=email, password=PASSWORD, second_factor_supported=True))
    )
    assert gone.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_reset_user_mfa_removes_the_factor_ends_sessions_and_is_recorded(clock):
    async with _served(clock, []) as (application, stub):
        admin_user, admin = await admin_session(stub, use_cases_of(application).accounts)
        email, _, completed = await _session_with_factor(stub, clock)
        user_id = completed.user.uuid
        request = pb.ResetUserMfaRequest(uuid=user_id)
        by_user = await failure(
            stub.ResetUserMfa(request, metadata=session_metadata(completed.session_id))
        )
        assert by_user.code() is grpc.StatusCode.PERMISSION_DENIED
        reset = await stub.ResetUserMfa(request, metadata=session_metadata(admin))
        assert reset.ended >= 1
        gone = await failure(
            stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(completed.session_id))
        )
        assert gone.code() is grpc.StatusCode.UNAUTHENTICATED
        # The password alone logs in again: the factor is gone.
        assert (await login(stub, email))[1]
        again = await failure(stub.ResetUserMfa(request, metadata=session_metadata(admin)))
        assert reason_of(again) == "FACTOR_NOT_ENROLLED"
        pool = application.resources.pool
        factors = await pool.fetchval(
            "SELECT count(*) FROM user_mfa WHERE user_id = $1::uuid", user_id
        )
        codes = await pool.fetchval(
            "SELECT count(*) FROM user_recovery_codes WHERE user_id = $1::uuid", user_id
        )
        events = await pool.fetch(
            "SELECT data->>'actor_id' AS actor, data ? 'source_address' AS network"
            " FROM event_outbox WHERE user_id = $1::uuid AND event_type = $2",
            user_id,
            "user.mfa_reset",
        )
        # The user is told by mail, in the reset's transaction.
        notices = await pool.fetch(
            "SELECT kind, token FROM mail_outbox WHERE recipient = $1 AND kind = $2",
            email,
            "second_factor_reset",
        )
    assert (factors, codes) == (0, 0)
    [event] = events
    assert [(row["kind"], row["token"]) for row in notices] == [("second_factor_reset", None)]
    assert (event["actor"], event["network"]) == (admin_user.uuid, True)
