"""Password recovery through the gRPC channel, with a real SMTP server and a courier:
the link's token read from the received message, its rules, throttling and the notices."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
import pytest

from app.adapters.postgres.bounded_pool import BoundedPool
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.client import (
    PASSWORD,
    code_of,
    eventually,
    failure,
    get_me,
    is_unauthenticated,
    login,
    register,
    session_metadata,
    unique_email,
)
from tests.support.couriers import couriering, forget_queued_mail
from tests.support.error_details import field_violation, reason_of, retry_delay_seconds
from tests.support.logs import captured_logs
from tests.support.mail import SmtpServer, smtp_server
from tests.support.ports import free_port
from tests.support.recovery import mail_to, token_in
from tests.support.second_factor import SteppedClock, code_at, enrolled_user, steered_application

NEW_PASSWORD = "a fresh and rather long passphrase"
RESET, CHANGED = "Reset", "changed"  # words of the two kinds' subjects
# Requests per case when comparing answer times (printed with -s).
TRIES = 40


@dataclass
class Recovery:
    application: Application
    stub: pb_grpc.UserServiceAsyncStub
    clock: SteppedClock
    server: SmtpServer

    async def request(self, email: str) -> str:
        """Ask for a reset of ``email``'s password; the token of the link that arrives."""
        count = self._count(email)
        await self.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))
        mail = await mail_to(self.server, email, RESET)
        while self._count(email) == count:  # the new one, not an earlier one
            await asyncio.sleep(0.02)
            mail = await mail_to(self.server, email, RESET)
        return token_in(mail)

    def _count(self, email: str) -> int:
        return sum(1 for m in self.server.mailbox.received if m["To"] == email)

    def reset(self, token: str, password: str = NEW_PASSWORD, code: str = "") -> object:
        return self.stub.ResetPassword(
            pb.ResetPasswordRequest(token=token, new_password=password, totp_code=code)
        )


@pytest.fixture
async def recovery(application: Application) -> AsyncIterator[Recovery]:
    await forget_queued_mail(application.pool)
    clock = SteppedClock()
    with smtp_server() as server:
        async with (
            steered_application(clock) as (app, stub),
            couriering(app.pool, smtp_url=server.url()),
        ):
            yield Recovery(app, stub, clock, server)


async def _events_of(recovery: Recovery, user_id: str) -> list[tuple[str, str]]:
    rows = await recovery.application.pool.fetch(
        "SELECT event_type, data::text AS data FROM event_outbox WHERE user_id = $1 ORDER BY id",
        user_id,
    )
    return [(row["event_type"], row["data"]) for row in rows]


async def test_a_forgotten_password_is_replaced_through_the_mailed_link(recovery):
    email = unique_email("reset")
    user = await register(recovery.stub, email)
    _, session = await login(recovery.stub, email)
    with captured_logs() as logs:
        token = await recovery.request(email)
        answer = await recovery.reset(token)
        notice = await mail_to(recovery.server, email, CHANGED)
    assert answer.ended == 1
    assert await is_unauthenticated(get_me(recovery.stub, session))
    assert await code_of(login(recovery.stub, email, PASSWORD)) is grpc.StatusCode.UNAUTHENTICATED
    _, renewed = await login(recovery.stub, email, NEW_PASSWORD)
    # The link reached the address: the reset verified it.
    assert (await get_me(recovery.stub, renewed)).user.email_verified
    assert "token=" not in notice.as_string()
    types = [kind for kind, _ in await _events_of(recovery, user.uuid)]
    assert types[-3:-1] == ["user.password_reset_requested", "user.password_reset"]
    stored = await recovery.application.pool.fetch(
        "SELECT token, template_values::text AS v FROM mail_outbox"
        " WHERE recipient = $1 AND kind IN ('password_reset', 'password_changed')",
        email,
    )
    assert len(stored) == 2 and all(row["token"] is None for row in stored)
    kept = await recovery.application.pool.fetchval(
        "SELECT count(*) FROM password_resets WHERE user_id = $1", user.uuid
    )
    assert kept == 0
    everything = logs.text + json.dumps(await _events_of(recovery, user.uuid)) + str(stored)
    assert token not in everything


async def test_a_token_works_once(recovery):
    email = unique_email("replay")
    await register(recovery.stub, email)
    token = await recovery.request(email)
    await recovery.reset(token)
    replayed = await failure(recovery.reset(token, "yet another long passphrase"))
    assert replayed.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violation(replayed).field == "token"
    await login(recovery.stub, email, NEW_PASSWORD)


async def test_expired_superseded_and_forged_tokens_are_refused_alike(recovery):
    email = unique_email("dead")
    await register(recovery.stub, email)
    first = await recovery.request(email)
    second = await recovery.request(email)
    superseded = await failure(recovery.reset(first))
    forged = await failure(recovery.reset("x" * 43))
    recovery.clock.advance(timedelta(seconds=901))
    expired = await failure(recovery.reset(second))
    refusals = {(e.code(), e.details()) for e in (superseded, forged, expired)}
    assert refusals == {(grpc.StatusCode.INVALID_ARGUMENT, superseded.details())}
    await login(recovery.stub, email, PASSWORD)


async def test_a_token_dies_when_the_password_is_changed(recovery):
    email = unique_email("changed")
    await register(recovery.stub, email)
    token = await recovery.request(email)
    _, session = await login(recovery.stub, email)
    await recovery.stub.ChangePassword(
        pb.ChangePasswordRequest(current_password=PASSWORD, new_password=NEW_PASSWORD),
        metadata=session_metadata(session),
    )
    notice = await mail_to(recovery.server, email, CHANGED)
    assert "Ada" in notice.as_string()
    dead = await failure(recovery.reset(token, "yet another long passphrase"))
    assert dead.code() is grpc.StatusCode.INVALID_ARGUMENT
    await login(recovery.stub, email, NEW_PASSWORD)


async def _timed_request(stub: pb_grpc.UserServiceAsyncStub, email: str) -> tuple[float, str]:
    started = time.perf_counter()
    call = stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))
    await call
    code = await call.code()
    details = await call.details()
    return time.perf_counter() - started, f"{code} {details!r}"


async def test_known_unknown_and_disabled_addresses_are_answered_alike(application):
    # No courier here: only the answers are measured, not mail sent meanwhile.
    async with steered_application(SteppedClock()) as (app, stub):
        await _compare_answers(app, stub)


async def _compare_answers(app: Application, stub: pb_grpc.UserServiceAsyncStub) -> None:
    known, disabled = unique_email("known"), unique_email("disabled")
    await register(stub, known)
    user = await register(stub, disabled)
    await app.pool.execute("UPDATE users SET status = 'disabled' WHERE id = $1", user.uuid)
    cases = {"known": known, "unknown": unique_email("unknown"), "disabled": disabled}
    timings: dict[str, list[float]] = {name: [] for name in cases}
    answers: set[str] = set()
    for _ in range(TRIES):  # interleaved, so drift in the machine's load hits all three
        for name, email in cases.items():
            elapsed, answer = await _timed_request(stub, email)
            timings[name].append(elapsed)
            answers.add(answer)
    assert len(answers) == 1  # the same status and details for every case
    medians = {name: round(statistics.median(t) * 1000, 2) for name, t in timings.items()}
    print(f"RequestPasswordReset median ms over {TRIES} tries each: {medians}")
    queued = await app.pool.fetch(
        "SELECT recipient FROM mail_outbox"
        " WHERE recipient = ANY($1::text[]) AND kind = 'password_reset'",
        list(cases.values()),
    )
    assert {row["recipient"] for row in queued} == {known}


async def test_requests_and_token_guesses_are_throttled_with_a_retry_delay(application):
    limits = {
        "requests_per_address_per_minute": 1_000,
        "requests_per_account_per_minute": 1,
        "guesses_per_address_per_minute": 2,
    }
    async with steered_application(SteppedClock(), recovery=limits) as (_, stub):
        email = unique_email("nobody")  # per account, known or not
        await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))
        refused = await failure(
            stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email.upper()))
        )
        assert refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay_seconds(refused) > 0
        guess = pb.ResetPasswordRequest(token="x" * 43, new_password=NEW_PASSWORD)
        for _ in range(2):
            await failure(stub.ResetPassword(guess))
        guessing = await failure(stub.ResetPassword(guess))
        assert guessing.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay_seconds(guessing) > 0


async def test_a_user_with_a_second_factor_resets_only_with_a_current_code(recovery):
    email, secret, _ = await enrolled_user(recovery.stub, recovery.clock)
    token = await recovery.request(email)
    missing = await failure(recovery.reset(token))
    assert missing.code() is grpc.StatusCode.UNAUTHENTICATED
    assert reason_of(missing) == "INVALID_CODE"
    await recovery.reset(token, code=code_at(secret, recovery.clock.now()))
    ticket = await recovery.stub.Login(
        pb.LoginRequest(email=email, password=NEW_PASSWORD, second_factor_supported=True)
    )
    assert ticket.second_factor_required


async def _attempted(pool: BoundedPool, email: str) -> bool:
    attempts = await pool.fetchval("SELECT attempts FROM mail_outbox WHERE recipient = $1", email)
    return bool(attempts)


async def test_a_link_held_up_by_an_smtp_outage_works_when_it_arrives_in_its_lifetime(
    application,
):
    await forget_queued_mail(application.pool)
    clock = SteppedClock()
    async with steered_application(clock) as (app, stub):
        email = unique_email("outage")
        await register(stub, email)
        async with couriering(app.pool, smtp_url=f"smtp://127.0.0.1:{free_port()}"):
            await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))
            await eventually(lambda: _attempted(app.pool, email))
        clock.advance(timedelta(seconds=600))
        with smtp_server() as server:
            async with couriering(app.pool, smtp_url=server.url()):
                token = token_in(await mail_to(server, email, RESET))
        await stub.ResetPassword(pb.ResetPasswordRequest(token=token, new_password=NEW_PASSWORD))
        await login(stub, email, NEW_PASSWORD)


async def test_a_token_dies_with_its_account(recovery):
    email = unique_email("leaving")
    user = await register(recovery.stub, email)
    token = await recovery.request(email)
    _, session = await login(recovery.stub, email)
    await recovery.stub.DeleteAccount(
        pb.DeleteAccountRequest(current_password=PASSWORD), metadata=session_metadata(session)
    )
    dead = await failure(recovery.reset(token))
    assert dead.code() is grpc.StatusCode.INVALID_ARGUMENT
    left = await recovery.application.pool.fetchval(
        "SELECT count(*) FROM password_resets WHERE user_id = $1", user.uuid
    )
    assert left == 0
