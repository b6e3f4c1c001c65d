"""Client-side helpers for tests: register, log in, present a session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import grpc

from app.domain.passwords import PasswordPolicy
from app.domain.users import parse_registration
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.usecases.accounts import AccountUseCase


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


PASSWORD = "correct horse battery staple"


async def register(
    stub: pb_grpc.UserServiceAsyncStub,
    email: str | None = None,
    *,
    password: str = PASSWORD,
    metadata: tuple[tuple[str, str], ...] | None = None,
    **fields: str,
) -> pb.User:
    request = pb.RegisterRequest(
        email=email or unique_email(),
        first_name=fields.pop("first_name", "Ada"),
        last_name=fields.pop("last_name", "Lovelace"),
        password=password,
        **fields,
    )
    response = await stub.Register(request, metadata=metadata)
    return response.user


async def login(
    stub: pb_grpc.UserServiceAsyncStub,
    email: str,
    password: str = PASSWORD,
    metadata: tuple[tuple[str, str], ...] = (),
) -> tuple[pb.User, str]:
    response = await stub.Login(pb.LoginRequest(email=email, password=password), metadata=metadata)
    return response.user, response.session_id


async def registered_session(stub: pb_grpc.UserServiceAsyncStub) -> tuple[pb.User, str]:
    """A fresh user and a session for them."""
    email = unique_email()
    await register(stub, email)
    return await login(stub, email)


async def admin_session(
    stub: pb_grpc.UserServiceAsyncStub,
    accounts: AccountUseCase,
    metadata: tuple[tuple[str, str], ...] = (),
) -> tuple[pb.User, str]:
    """A fresh admin, made as the operator's command makes one, and a session for them
    (logged in with ``metadata``: a forwarded address, for one)."""
    email = unique_email("admin")
    registration = parse_registration(
        email=email,
        first_name="Root",
        last_name="Admin",
        password=PASSWORD,
        role="",
        avatar="",
        policy=PasswordPolicy(),
    )
    await accounts.create_admin(registration)
    return await login(stub, email, metadata=metadata)


async def other_session_handle(stub: pb_grpc.UserServiceAsyncStub, session_id: str) -> str:
    """The handle of the one other session of the user whose session ``session_id`` is."""
    listed = await stub.ListSessions(
        pb.ListSessionsRequest(), metadata=session_metadata(session_id)
    )
    [handle] = [session.handle for session in listed.sessions if not session.current]
    return handle


UNAUTHENTICATED_MESSAGE = "a valid session is required"


async def failure(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error a call fails with; the test fails if it succeeds."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the call succeeded")


async def code_of(call: Awaitable[object]) -> grpc.StatusCode:
    """The status code a call fails with; the test fails if it succeeds."""
    return (await failure(call)).code()


async def is_unauthenticated(call: Awaitable[object]) -> bool:
    """The call failed exactly as an unknown session does: same code, same message."""
    error = await failure(call)
    return (error.code(), error.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        UNAUTHENTICATED_MESSAGE,
    )


def get_me(stub: pb_grpc.UserServiceAsyncStub, session_id: str) -> Awaitable[pb.GetMeResponse]:
    return stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))


def session_metadata(session_id: str) -> tuple[tuple[str, str], ...]:
    return (("session_id", session_id),)


async def eventually(
    condition: Callable[[], Awaitable[bool]], timeout: float = 20.0, interval: float = 0.02
) -> None:
    """Wait until ``condition()`` holds; fail the test if it does not within ``timeout``."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(interval)
