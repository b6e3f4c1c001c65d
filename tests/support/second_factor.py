"""Helpers for the second factor's tests: a clock the test steers, codes computed with
pyotp, an enrolled user, and a login ticket."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pyotp

from app.bootstrap import build_application
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import make_settings
from tests.support.client import PASSWORD, login, register, session_metadata, unique_email
from tests.support.passwords import cheap_passwords_for

STEP = timedelta(seconds=30)


class SteppedClock:
    """The wall clock moved by ``offset``: the service's TOTP time, steered by the test."""

    def __init__(self) -> None:
        # The middle of a step, so a code's step never turns over during a test.
        now = datetime.now(UTC)
        self.start = now - timedelta(seconds=now.timestamp() % 30) + timedelta(seconds=15)
        self.offset = now - self.start

    def now(self) -> datetime:
        return datetime.now(UTC) - self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset -= delta


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


@contextlib.asynccontextmanager
async def steered_application(
    clock: SteppedClock, **sections: dict[str, Any]
) -> AsyncIterator[tuple[Application, pb_grpc.UserServiceAsyncStub]]:
    """An application of this run's stores whose clock is ``clock``, and a stub to it."""
    settings = make_settings(**sections)
    application = await build_application(
        settings, passwords=cheap_passwords_for(settings), clock=clock
    )
    await application.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            yield application, pb_grpc.UserServiceStub(channel)
    finally:
        await application.stop(grace=0.5)


async def enrolled_user(
    stub: pb_grpc.UserServiceAsyncStub, clock: SteppedClock
) -> tuple[str, str, list[str]]:
    """A new user with an active factor: their email, the secret and the recovery codes.

    The clock then moves ten steps on, so no later code is a replay of the confirming one.
    """
    email = unique_email("mfa")
    await register(stub, email)
    _, session_id = await login(stub, email)
    metadata = session_metadata(session_id)
    enrolled = await stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=metadata)
    confirm = pb.ConfirmTotpRequest(code=code_at(enrolled.secret, clock.now()))
    confirmed = await stub.ConfirmTotp(confirm, metadata=metadata)
    clock.advance(10 * STEP)
    return email, enrolled.secret, list(confirmed.recovery_codes)


async def ticket_for(stub: pb_grpc.UserServiceAsyncStub, email: str) -> str:
    request = pb.LoginRequest(email=email, password=PASSWORD, second_factor_supported=True)
    response = await stub.Login(request)
    assert response.second_factor_required and not response.session_id
    return response.mfa_ticket


def complete(
    stub: pb_grpc.UserServiceAsyncStub, ticket: str, code: str
) -> grpc.aio.UnaryUnaryCall[pb.CompleteLoginRequest, pb.CompleteLoginResponse]:
    return stub.CompleteLogin(pb.CompleteLoginRequest(mfa_ticket=ticket, code=code))
