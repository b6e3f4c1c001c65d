"""Register through the real service: validation, uniqueness, roles."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from tests.support.client import (
    PASSWORD,
    login,
    register,
    registered_session,
    session_metadata,
    unique_email,
)


async def test_register_trims_and_lower_cases_and_returns_the_user(stub):
    email = unique_email("Trim").upper()
    user = await register(stub, f"  {email}  ", first_name="  Grace ", last_name=" Hopper ")
    assert user.email == email.lower()
    assert (user.first_name, user.last_name) == ("Grace", "Hopper")
    assert user.role == "user"
    assert user.uuid and user.created_at.seconds > 0 and user.updated_at.seconds > 0


async def test_register_keeps_an_avatar(stub):
    user = await register(stub, avatar="https://example.com/a.png")
    assert user.avatar == "https://example.com/a.png"


@pytest.mark.parametrize(
    ("fields", "field_named"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"email": "nul\x00@example.com"}, "email"),
        ({"first_name": "   "}, "first_name"),
        ({"first_name": "x" * 65}, "first_name"),
        ({"last_name": "bell\x07"}, "last_name"),
        ({"first_name": "nul\x00byte"}, "first_name"),
        ({"first_name": "Ada\u200b"}, "first_name"),
        ({"last_name": "\u202eecalevoL"}, "last_name"),
        ({"last_name": "1234"}, "last_name"),
        ({"email": "k\u0430te@example.com"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "p" * 129}, "password"),
        ({"avatar": "a" * 251}, "avatar"),
        ({"role": "root"}, "role"),
    ],
)
async def test_register_with_bad_input_is_invalid_argument(stub, fields, field_named):
    request = {
        "email": unique_email(),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password": PASSWORD,
        **fields,
    }
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Register(pb.RegisterRequest(**request))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_named in (caught.value.details() or "")


async def test_the_same_email_in_another_case_is_already_exists(stub):
    email = unique_email()
    await register(stub, email)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(stub, email.upper())
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_the_same_email_in_a_compatible_spelling_is_already_exists_and_found(stub):
    email = unique_email("kate")
    user = await register(stub, email)
    fullwidth = "\uff4b" + email[1:].upper()  # a fullwidth k, the rest upper case
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(stub, fullwidth)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    found, session_id = await login(stub, fullwidth)
    assert found.uuid == user.uuid
    response = await stub.FindByEmail(
        pb.FindByEmailRequest(email=fullwidth), metadata=session_metadata(session_id)
    )
    assert response.user.uuid == user.uuid
    assert response.user.email == email


async def test_twenty_concurrent_registrations_of_one_email_give_exactly_one_ok(stub):
    email = unique_email("race")
    results = await asyncio.gather(
        *(register(stub, email if i % 2 else email.upper()) for i in range(20)),
        return_exceptions=True,
    )
    successes = [r for r in results if isinstance(r, pb.User)]
    failures = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(successes) == 1
    assert len(failures) == 19
    assert {f.code() for f in failures} == {grpc.StatusCode.ALREADY_EXISTS}


async def test_admin_role_without_a_session_is_permission_denied(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(stub, role="admin")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_admin_role_asked_by_a_plain_user_is_permission_denied(stub):
    _, session_id = await registered_session(stub)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(stub, role="admin", metadata=session_metadata(session_id))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_admin_may_register_an_admin(stub, application):
    admin_email = unique_email("admin")
    await register(stub, admin_email)
    await application.pool.execute("UPDATE users SET role = 'admin' WHERE email = $1", admin_email)
    _, session_id = await login(stub, admin_email)
    created = await register(stub, role="admin", metadata=session_metadata(session_id))
    assert created.role == "admin"


async def test_register_with_an_unknown_session_is_unauthenticated(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(stub, metadata=session_metadata("no-such-session"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
