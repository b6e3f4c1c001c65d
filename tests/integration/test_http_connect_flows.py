"""The HTTP port end to end for the flows that span several calls: the second factor, password
recovery and email verification, each RPC as JSON, tokens read from real mail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.grpc.service_contract import METHOD_NAMES
from tests.support.application import use_cases_of
from tests.support.client import PASSWORD, admin_session, unique_email
from tests.support.connect import ConnectClient
from tests.support.couriers import forget_queued_mail
from tests.support.mail import smtp_server
from tests.support.recovery import token_in as reset_token_in
from tests.support.second_factor import STEP, SteppedClock, code_at, steered_application
from tests.support.verification import mail_to, token_in

NEW_PASSWORD = "a fresh and rather long passphrase"
NAMES = {"firstName": "Ada", "lastName": "Lovelace"}


@pytest.fixture
async def connect(application) -> AsyncIterator[ConnectClient]:
    await forget_queued_mail(application.pool)
    base = f"http://127.0.0.1:{application.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield ConnectClient(client)


async def _register_and_login(connect: ConnectClient, email: str) -> str:
    await connect.ok("Register", {"email": email, "password": PASSWORD, **NAMES})
    login = await connect.ok("Login", {"email": email, "password": PASSWORD})
    session: str = login["sessionId"]
    return session


async def test_a_second_factor_is_enrolled_used_and_removed_over_json(application, stub):
    clock = SteppedClock()
    async with (
        steered_application(clock) as (steered, _),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{steered.http_port}") as client,
    ):
        connect = ConnectClient(client)
        email = unique_email("mfa-http")
        session = await _register_and_login(connect, email)
        enrolled = await connect.ok("EnrollTotp", session_id=session)
        secret = enrolled["secret"]
        assert enrolled["otpauthUri"].startswith("otpauth://")
        code = code_at(secret, clock.now())
        confirmed = await connect.ok("ConfirmTotp", {"code": code}, session_id=session)
        recovery_codes = confirmed["recoveryCodes"]
        clock.advance(2 * STEP)
        fresh = await connect.ok(
            "RegenerateRecoveryCodes", {"code": code_at(secret, clock.now())}, session_id=session
        )
        assert set(fresh["recoveryCodes"]).isdisjoint(recovery_codes)
        ticket = await connect.ok(
            "Login", {"email": email, "password": PASSWORD, "secondFactorSupported": True}
        )
        assert ticket["secondFactorRequired"] and "sessionId" not in ticket
        completed = await connect.ok(
            "CompleteLogin", {"mfaTicket": ticket["mfaTicket"], "code": fresh["recoveryCodes"][0]}
        )
        assert completed["sessionId"]
        clock.advance(2 * STEP)
        disabled = {"currentPassword": PASSWORD, "code": code_at(secret, clock.now())}
        assert await connect.ok("DisableTotp", disabled, session_id=session) == {}


async def test_an_admin_resets_a_users_second_factor_over_json(application, stub, connect):
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    email = unique_email("reset-mfa")
    session = await _register_and_login(connect, email)
    secret = (await connect.ok("EnrollTotp", session_id=session))["secret"]
    code = code_at(secret, datetime.now(UTC))
    await connect.ok("ConfirmTotp", {"code": code}, session_id=session)
    me = await connect.ok("GetMe", session_id=session)
    reset = await connect.ok("ResetUserMfa", {"uuid": me["user"]["uuid"]}, session_id=admin)
    assert reset["ended"] == 1
    assert (await connect.post("GetMe", session_id=session)).status_code == 401


async def test_a_forgotten_password_is_reset_with_the_mailed_token_over_json(application, connect):
    email = unique_email("reset-http")
    with smtp_server() as server:
        await connect.ok("Register", {"email": email, "password": PASSWORD, **NAMES})
        await mail_to(server, application.pool, email)
        assert await connect.ok("RequestPasswordReset", {"email": email}) == {}
        mails = await mail_to(server, application.pool, email, count=2)
    [reset_mail] = [mail for mail in mails if "Reset" in str(mail["Subject"])]
    body = {"token": reset_token_in(reset_mail), "newPassword": NEW_PASSWORD}
    await connect.ok("ResetPassword", body)
    await connect.ok("Login", {"email": email, "password": NEW_PASSWORD})


async def test_an_address_is_verified_and_changed_over_json(application, connect):
    old, new = unique_email("verify-http"), unique_email("changed-http")
    with smtp_server() as server:
        session = await _register_and_login(connect, old)
        assert await connect.ok("ResendVerification", session_id=session) == {}
        [_, resent] = await mail_to(server, application.pool, old, count=2)
        verified = await connect.ok("VerifyEmail", {"token": token_in(resent)})
        assert verified["user"]["emailVerified"]
        change = {"currentPassword": PASSWORD, "newEmail": new}
        assert await connect.ok("ChangeEmail", change, session_id=session) == {}
        [link] = await mail_to(server, application.pool, new)
    changed = await connect.ok("VerifyEmail", {"token": token_in(link)})
    assert changed["user"]["email"] == new


def test_every_rpc_has_a_happy_path_over_http_in_these_modules():
    here = Path(__file__)
    source = here.read_text() + here.with_name("test_http_connect.py").read_text()
    missing = [name for name in METHOD_NAMES if f'"{name}"' not in source]
    assert missing == []
