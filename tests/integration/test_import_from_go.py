"""``python -m app import go``: users of the Go service's own database come over and log in."""

from __future__ import annotations

import grpc
import pytest

from app.entrypoints.cli import parser
from app.entrypoints.user_import import import_users
from tests.support.client import PASSWORD, failure, login, register, unique_email
from tests.support.commands import run_command
from tests.support.go_service import (
    GO_COST,
    GoUser,
    go_database,
    go_hash,
    in_order,
    insert_go_users,
)


async def stored_hash(application, user_id) -> str:
    return await application.resources.pool.fetchval(
        "SELECT password_hash FROM users WHERE id = $1", user_id
    )


async def import_go(settings, dsn: str, *arguments: str) -> tuple[int, list[str]]:
    status, out, err = await run_command(settings, "import", "go", "--dsn", dsn, *arguments)
    assert err == "", err
    return status, out.splitlines()


async def test_go_users_come_over_with_their_id_role_avatar_and_times_and_log_in(
    stub, settings, application
):
    admin = GoUser(role="admin", avatar="https://example.com/grace.png")
    # The Go service's own cost, once; the other users are hashed cheaply.
    admin.password_hash = go_hash(admin.password, cost=GO_COST)
    plain = GoUser(first_name="Alan", last_name="Turing", updated_at=admin.created_at)
    async with go_database(settings) as (dsn, go):
        await insert_go_users(go, admin, plain)
        status, lines = await import_go(settings, dsn)
    assert status == 0
    assert lines == ["imported 2 user(s), 0 already here, 0 refused; done"]
    assert (await stored_hash(application, admin.user_id)).startswith("$2a$10$")

    user, session_id = await login(stub, admin.email)
    assert (user.uuid, user.role, user.avatar) == (str(admin.user_id), "admin", admin.avatar)
    assert user.created_at.ToDatetime().timestamp() == admin.created_at.timestamp()
    assert session_id
    other, _ = await login(stub, plain.email)
    assert (other.uuid, other.role, other.first_name) == (str(plain.user_id), "user", "Alan")


async def test_the_first_login_replaces_the_bcrypt_hash_with_argon2id(stub, settings, application):
    user = GoUser()
    async with go_database(settings) as (dsn, go):
        await insert_go_users(go, user)
        assert (await import_go(settings, dsn))[0] == 0
    assert (await stored_hash(application, user.user_id)).startswith("$2a$")
    await login(stub, user.email)
    assert (await stored_hash(application, user.user_id)).startswith("$argon2id$")
    # The new hash holds the same password.
    await login(stub, user.email)


async def test_a_password_the_go_service_trimmed_logs_in_as_its_owner_typed_it(
    stub, settings, application
):
    user = GoUser(password=f"  {PASSWORD} ")
    async with go_database(settings) as (dsn, go):
        await insert_go_users(go, user)
        assert (await import_go(settings, dsn))[0] == 0
    await login(stub, user.email, user.password)


async def test_a_wrong_password_of_an_imported_user_is_refused_and_keeps_the_hash(
    stub, settings, application
):
    user = GoUser()
    async with go_database(settings) as (dsn, go):
        await insert_go_users(go, user)
        assert (await import_go(settings, dsn))[0] == 0
    error = await failure(login(stub, user.email, PASSWORD + " but wrong"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await stored_hash(application, user.user_id)).startswith("$2a$")


async def test_colliding_emails_and_rows_that_break_the_rules_are_reported_not_merged(
    stub, settings, application
):
    registered = await register(stub, unique_email("here"))
    email = unique_email("twice")
    first, second = in_order(2)
    first.email, second.email = email, email.upper()
    clash = GoUser(email=registered.email.upper())
    bad_name = GoUser(first_name="Eve\x07")
    bad_avatar = GoUser(avatar="http://example.com/a.png")
    bad_email = GoUser(email="not-an-email")
    bad_hash = GoUser(password_hash="plain text")
    async with go_database(settings) as (dsn, go):
        await insert_go_users(go, first, second, clash, bad_name, bad_avatar, bad_email, bad_hash)
        status, lines = await import_go(settings, dsn)
    assert status == 1
    refused = dict(line.split(": ", 1) for line in lines[:-1])
    assert refused == {
        f"refused user {second.user_id}": f"email: same address as user {first.user_id}, earlier",
        f"refused user {clash.user_id}": (
            f"email: another user has the same address (user {registered.uuid})"
        ),
        f"refused user {bad_name.user_id}": "first_name: must not contain control characters",
        f"refused user {bad_avatar.user_id}": "avatar: must be a URL with scheme https",
        f"refused user {bad_email.user_id}": "email: is not a valid email address",
        f"refused user {bad_hash.user_id}": "password_hash: is not an argon2 or bcrypt hash",
    }
    assert lines[-1] == "imported 1 user(s), 0 already here, 6 refused; done"
    imported, _ = await login(stub, email)
    assert imported.uuid == str(first.user_id)
    # The user who was here first keeps their account.
    here = await application.resources.pool.fetchval(
        "SELECT count(*) FROM users WHERE id = $1", clash.user_id
    )
    assert here == 0


async def test_a_second_run_changes_nothing_and_says_so(settings, application):
    users = in_order(3)
    async with go_database(settings) as (dsn, go):
        await insert_go_users(go, *users)
        assert (await import_go(settings, dsn))[0] == 0
        versions = await application.resources.pool.fetch(
            "SELECT id, version, updated_at FROM users WHERE id = ANY($1) ORDER BY id",
            [user.user_id for user in users],
        )
        status, lines = await import_go(settings, dsn)
        again = await application.resources.pool.fetch(
            "SELECT id, version, updated_at FROM users WHERE id = ANY($1) ORDER BY id",
            [user.user_id for user in users],
        )
    assert status == 0
    assert lines == ["imported 0 user(s), 3 already here, 0 refused; nothing changed"]
    assert again == versions


class Interrupted(Exception):
    pass


class StopAfterBatches:
    """A progress that stops the run after ``batches`` batches, as a kill between them would."""

    def __init__(self, batches: int) -> None:
        self.left = batches

    def started(self, what: str, total: int | None) -> None:
        assert total == 5

    def advanced(self, count: int) -> None:
        self.left -= 1
        if self.left == 0:
            raise Interrupted()


async def test_an_interrupted_run_run_again_finishes_the_rest(stub, settings, application):
    users = in_order(5)
    async with go_database(settings) as (dsn, go):
        await insert_go_users(go, *users)
        arguments = parser().parse_args(["import", "go", "--dsn", dsn, "--batch-size", "2"])
        with pytest.raises(Interrupted):
            await import_users(settings, arguments, StopAfterBatches(1))
        stored = await application.resources.pool.fetchval(
            "SELECT count(*) FROM users WHERE id = ANY($1)", [user.user_id for user in users]
        )
        assert stored == 2
        status, lines = await import_go(settings, dsn, "--batch-size", "2")
    assert status == 0
    assert lines == ["imported 3 user(s), 2 already here, 0 refused; done"]
    for user in users:
        await login(stub, user.email)


async def test_a_dry_run_reports_what_it_would_do_and_writes_nothing(stub, settings, application):
    good, bad = GoUser(), GoUser(last_name="\u202eevil")
    async with go_database(settings) as (dsn, go):
        await insert_go_users(go, good, bad)
        status, lines = await import_go(settings, dsn, "--dry-run")
    assert status == 1
    assert lines[0].startswith(f"refused user {bad.user_id}: last_name: must not contain")
    assert (
        lines[1]
        == "would import 1 user(s), 0 already here, 1 refused; dry run: nothing was written"
    )
    error = await failure(login(stub, good.email))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("import", "go"), "--dsn"),
        (("import", "go", "--dsn", "mysql://nowhere/x"), "--dsn: not a usable PostgreSQL DSN"),
        (("import", "go", "--dsn", "postgresql://x/y", "--batch-size", "0"), "at least 1"),
        (("import", "jsonl", "/nonexistent/users.jsonl"), "no such file"),
        (("import", "ldap"), "invalid choice"),
    ],
    ids=["no-dsn", "bad-dsn", "no-batch", "no-file", "unknown-source"],
)
async def test_bad_arguments_exit_2_naming_the_problem(settings, application, arguments, message):
    status, out, err = await run_command(settings, *arguments)
    assert (status, out) == (2, "")
    assert message in err.strip().splitlines()[-1]


async def test_a_source_that_does_not_answer_exits_69_and_a_bad_redis_url_2(settings, application):
    status, out, err = await run_command(
        settings, "import", "go", "--dsn", "postgresql://postgres@127.0.0.1:1/go"
    )
    assert (status, out) == (69, "")
    assert "cannot reach a store or the source" in err
    async with go_database(settings) as (dsn, _):
        status, out, err = await run_command(
            settings, "import", "go", "--dsn", dsn, "--redis", "gopher://nowhere"
        )
    assert (status, out) == (2, "")
    assert err.strip().endswith("--redis: not a usable Redis URL")
