"""Go sessions keep working after ``import go --redis``; ``import jsonl`` brings a file's users."""

from __future__ import annotations

import json

import grpc
from argon2 import PasswordHasher
from redis.asyncio import Redis

from app.adapters.redis.sessions import digest_of
from app.domain.importing import IMPORTED_SESSION_AGENT
from app.grpc.generated import user_service_pb2 as pb
from tests.support.client import PASSWORD, failure, login, session_metadata, unique_email
from tests.support.commands import run_command
from tests.support.go_service import GoUser, add_go_session, go_database, go_hash, insert_go_users
from tests.support.throwaway import ThrowawayRedis

GO_TTL_SECONDS = 120


async def test_a_go_session_comes_along_and_getme_accepts_it(stub, settings, application, redis):
    user = GoUser()
    async with ThrowawayRedis() as go_redis, go_database(settings) as (dsn, go):
        await insert_go_users(go, user)
        client = Redis.from_url(go_redis.url)
        session_id = await add_go_session(client, user.user_id, ttl_seconds=GO_TTL_SECONDS)
        await add_go_session(client, GoUser().user_id)  # a user the Go table does not have
        status, out, err = await run_command(
            settings, "import", "go", "--dsn", dsn, "--redis", go_redis.url
        )
        await client.aclose()
    assert (status, err) == (1, "")
    lines = out.splitlines()
    assert lines[0].startswith("refused session key sha256:")
    assert lines[0].endswith(": user_id: user not here")
    assert lines[1] == (
        "imported 1 user(s), 0 already here, imported 1 session(s),"
        " 0 session(s) already here, 1 refused; done"
    )
    assert session_id not in out

    me = await stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
    assert me.user.uuid == str(user.user_id)
    listed = await stub.ListSessions(
        pb.ListSessionsRequest(), metadata=session_metadata(session_id)
    )
    assert [(s.user_agent, s.current) for s in listed.sessions] == [(IMPORTED_SESSION_AGENT, True)]
    # Only the id's digest is kept, and the session ends no later than it would have.
    key = f"{settings.redis.key_prefix}session:{digest_of(session_id)}"
    assert 0 < await redis.pttl(key) <= GO_TTL_SECONDS * 1000
    expires_at = int(await redis.hget(key, "expires_at"))
    created_at = int(await redis.hget(key, "created_at"))
    assert expires_at - created_at <= GO_TTL_SECONDS * 1000
    assert not [k async for k in redis.scan_iter(match=f"*{session_id}*")]


async def test_an_imported_session_ended_here_never_comes_back_on_a_rerun(
    stub, settings, application
):
    user = GoUser()
    async with ThrowawayRedis() as go_redis, go_database(settings) as (dsn, go):
        await insert_go_users(go, user)
        client = Redis.from_url(go_redis.url)
        session_id = await add_go_session(client, user.user_id)
        arguments = ("import", "go", "--dsn", dsn, "--redis", go_redis.url)
        assert (await run_command(settings, *arguments))[0] == 0
        await stub.Logout(pb.LogoutRequest(), metadata=session_metadata(session_id))
        status, out, _ = await run_command(settings, *arguments)
        await client.aclose()
    assert status == 0
    assert out.splitlines() == [
        "imported 0 user(s), 1 already here, imported 0 session(s),"
        " 1 session(s) already here, 0 refused; nothing changed"
    ]
    error = await failure(stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_users_of_a_jsonl_file_come_over_with_argon2_or_bcrypt_hashes(
    stub, settings, application, tmp_path
):
    argon2_user, bcrypt_user, scrypt_user = (unique_email(tag) for tag in ("a2", "bc", "sc"))
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    lines = [
        {
            "email": argon2_user,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "password_hash": hasher.hash(PASSWORD),
            "role": "admin",
        },
        {
            "email": bcrypt_user,
            "first_name": "Alan",
            "last_name": "Turing",
            "password_hash": go_hash(PASSWORD),
            "created_at": "2020-02-03T04:05:06+00:00",
        },
        {
            "email": scrypt_user,
            "first_name": "Sc",
            "last_name": "Rypt",
            "password_hash": "$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA",
        },
    ]
    file = tmp_path / "users.jsonl"
    file.write_text(
        "\n".join([*(json.dumps(line) for line in lines), "", "{not json", '{"email": 1}']) + "\n"
    )
    status, out, err = await run_command(settings, "import", "jsonl", str(file))
    assert (status, err) == (1, "")
    assert out.splitlines() == [
        "refused line 3: password_hash: uses the scheme 'scrypt': only argon2 and bcrypt",
        "refused line 5: not valid JSON",
        "refused line 6: email: must be a string",
        "imported 2 user(s), 0 already here, 3 refused; done",
    ]
    admin, _ = await login(stub, argon2_user)
    assert admin.role == "admin"
    user, _ = await login(stub, bcrypt_user)
    assert user.created_at.ToJsonString() == "2020-02-03T04:05:06Z"
    # A rerun finds the same users: ids absent from the file are derived from the address.
    status, out, _ = await run_command(settings, "import", "jsonl", str(file))
    assert out.splitlines()[-1] == "imported 0 user(s), 2 already here, 3 refused; nothing changed"
