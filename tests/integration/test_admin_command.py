"""``python -m app admin create``, run as a real process on this run's stores."""

from __future__ import annotations

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from tests.support.client import PASSWORD, login, register, session_metadata, unique_email
from tests.support.commands import run_command


async def test_it_creates_an_admin_whose_password_came_from_stdin(stub, settings, application):
    email = unique_email("first-admin")
    status, out, err = await run_command(
        settings, "admin", "create", "--email", email, "--first-name", "Grace", stdin=PASSWORD
    )
    assert (status, err) == (0, "")
    assert out.startswith(f"created admin {email}") and out.count("\n") == 1
    assert PASSWORD not in out
    user, session_id = await login(stub, email)
    assert (user.role, user.first_name) == ("admin", "Grace")
    # The new admin may do what only an admin may.
    created = await register(stub, role="admin", metadata=session_metadata(session_id))
    assert created.role == "admin"


async def test_it_promotes_an_existing_user_without_asking_for_a_password(
    stub, settings, application
):
    email = unique_email("promoted")
    await register(stub, email)
    _, session_id = await login(stub, email)
    # With metrics on, as by default: redis-py's metrics are stopped before the meter provider.
    status, out, err = await run_command(
        settings,
        "admin",
        "create",
        "--email",
        email.upper(),
        APP_METRICS__ENABLED="true",
        APP_METRICS__PORT="0",
    )
    assert (status, err) == (0, "")
    assert out.startswith(f"{email} is an admin") and out.count("\n") == 1, out
    # At once, on the session opened before the promotion.
    me = await stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
    assert me.user.role == "admin"


async def test_a_password_piped_for_an_existing_user_is_refused_and_nothing_changes(
    stub, settings, application
):
    email = unique_email("existing")
    await register(stub, email)
    status, out, err = await run_command(
        settings, "admin", "create", "--email", email, stdin="Another-passphrase-42!"
    )
    assert (status, out) == (1, "")
    assert err.count("\n") == 1
    assert f"{email} already has an account" in err
    assert "pipe no password" in err
    assert "Another-passphrase-42!" not in err
    # Neither promoted nor given the piped password: the old one still works.
    user, _ = await login(stub, email)
    assert user.role == "user"


async def test_a_new_user_without_a_piped_password_is_refused_with_what_to_do(
    settings, application
):
    email = unique_email("nobody")
    status, out, err = await run_command(settings, "admin", "create", "--email", email)
    assert (status, out) == (1, "")
    assert f"no user has {email}: pipe the new admin's password on stdin" in err


@pytest.mark.parametrize(
    ("arguments", "stdin", "status", "message"),
    [
        (("admin", "create", "--email", "not an email"), PASSWORD, 1, "email"),
        (("admin", "create", "--email", "short@example.com"), "short", 1, "password"),
        (("admin", "create", "--email", "empty@example.com"), "", 1, "password"),
        (("admin", "create", "--email", "weak@example.com"), "qwertyuiop", 1, "too easy to guess"),
        (("admin", "create"), PASSWORD, 2, "--email"),
        (("admin", "remove", "--email", "x@example.com"), PASSWORD, 2, "invalid choice"),
    ],
    ids=[
        "bad-email",
        "short-password",
        "no-password",
        "weak-password",
        "no-email",
        "unknown-action",
    ],
)
async def test_bad_input_exits_non_zero_with_one_line_naming_the_problem(
    settings, application, arguments, stdin, status, message
):
    code, out, err = await run_command(settings, *arguments, stdin=stdin)
    assert code == status
    assert out == ""
    assert message in err.strip().splitlines()[-1]


async def test_unreachable_stores_exit_69(settings, application):
    code, out, err = await run_command(
        settings,
        "admin",
        "create",
        "--email",
        unique_email("nowhere"),
        stdin=PASSWORD,
        APP_POSTGRES__DSN="postgresql://postgres@127.0.0.1:1/nowhere",
        APP_POSTGRES__CONNECT_TIMEOUT_SECONDS="1",
    )
    assert (code, out) == (69, "")
    assert "cannot reach" in err or "unavailable" in err


async def test_a_new_admin_can_log_in_but_not_with_a_wrong_password(stub, settings, application):
    email = unique_email("admin-login")
    status, _, _ = await run_command(settings, "admin", "create", "--email", email, stdin=PASSWORD)
    assert status == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await login(stub, email, "not the password")
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
