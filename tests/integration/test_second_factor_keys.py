"""The second factor's secrets at rest: key rotation, nothing in clear anywhere, and the
start-up check of the keys."""

from __future__ import annotations

import base64
import os
from uuid import UUID

import grpc
import pytest
from grpc import StatusCode

from app.bootstrap import build_application
from app.config import ConfigError
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import RUN_ID, make_settings
from tests.support.client import failure, login, register, session_metadata, unique_email
from tests.support.isolation import isolated_settings, remove_run_data
from tests.support.logs import captured_logs
from tests.support.passwords import cheap_passwords_for
from tests.support.second_factor import (
    STEP,
    SteppedClock,
    code_at,
    complete,
    enrolled_user,
    steered_application,
    ticket_for,
)


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def _stored_factor(application: Application, email: str) -> tuple[str, bytes]:
    row = await application.resources.pool.fetchrow(
        "SELECT m.key_id, m.secret_ciphertext FROM user_mfa m JOIN users u ON u.id = m.user_id"
        " WHERE u.email = $1",
        email,
    )
    return row["key_id"], bytes(row["secret_ciphertext"])


async def test_a_secret_under_an_old_key_still_verifies_and_moves_to_the_current_key():
    clock = SteppedClock()
    old, new = _key(), _key()
    async with steered_application(clock, mfa={"encryption_keys": {"k1": old}}) as (app, stub):
        email, secret, _ = await enrolled_user(stub, clock)
        assert (await _stored_factor(app, email))[0] == "k1"
    both = {"encryption_keys": {"k1": old, "k2": new}, "encryption_key_id": "k2"}
    async with steered_application(clock, mfa=both) as (app, stub):
        _, before = await _stored_factor(app, email)
        ticket = await ticket_for(stub, email)
        assert (await complete(stub, ticket, code_at(secret, clock.now()))).session_id
        key_id, after = await _stored_factor(app, email)
        assert key_id == "k2" and after != before
    clock.advance(STEP)
    async with steered_application(clock, mfa={"encryption_keys": {"k2": new}}) as (_, stub):
        ticket = await ticket_for(stub, email)
        assert (await complete(stub, ticket, code_at(secret, clock.now()))).session_id


async def test_no_secret_code_or_ticket_is_in_the_logs_the_events_or_the_database_in_clear():
    clock = SteppedClock()
    async with steered_application(clock) as (app, stub):
        with captured_logs() as logs:
            email, secret, codes = await enrolled_user(stub, clock)
            ticket = await ticket_for(stub, email)
            await complete(stub, ticket, codes[0])
            code = code_at(secret, clock.now())
            await complete(stub, await ticket_for(stub, email), code)
        pool = app.resources.pool
        user_id: UUID = await pool.fetchval("SELECT id FROM users WHERE email = $1", email)
        stored = [
            await pool.fetchval(
                f"SELECT coalesce(json_agg(t)::text, '') FROM {table} t WHERE user_id = $1",
                user_id,
            )
            for table in ("user_mfa", "user_recovery_codes", "event_outbox")
        ]
        types = await pool.fetch(
            "SELECT event_type FROM event_outbox WHERE user_id = $1 ORDER BY id", user_id
        )
    assert {"user.mfa_enabled", "user.recovery_code_used"} <= {row[0] for row in types}
    # The secret as typed, in lower case, and as its bytes in hex (bytea's text form).
    raw = base64.b32decode(secret)
    secrets = [
        secret,
        secret.lower(),
        raw.hex(),
        ticket,
        *codes,
        *(c.replace("-", "") for c in codes),
    ]
    for place in (logs.text, *stored):
        assert [value for value in secrets if value in place] == []


async def test_the_service_refuses_to_start_without_keys_while_a_user_is_enrolled():
    clock = SteppedClock()
    async with steered_application(clock) as (_, stub):
        await enrolled_user(stub, clock)
    settings = make_settings(mfa={})
    with pytest.raises(ConfigError, match="APP_MFA__ENCRYPTION_KEYS"):
        await build_application(settings, passwords=cheap_passwords_for(settings))


async def test_without_keys_and_enrolled_users_the_service_starts_and_refuses_enrolment():
    """On a database of its own, where no one is enrolled."""
    settings = isolated_settings("keyless", RUN_ID, mfa={})
    application = await build_application(settings, passwords=cheap_passwords_for(settings))
    await application.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            stub = pb_grpc.UserServiceStub(channel)
            email = unique_email("keyless")
            await register(stub, email)
            _, session_id = await login(stub, email)
            error = await failure(
                stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=session_metadata(session_id))
            )
        assert error.code() is StatusCode.FAILED_PRECONDITION
        assert "no MFA key" in (error.details() or "")
    finally:
        await application.stop(grace=0.5)
        await remove_run_data(settings)
