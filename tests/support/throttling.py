"""A service instance with small throttling limits, and the login attempts the tests make.

Client addresses are chosen through ``x-forwarded-for``, with 127.0.0.1
configured as a trusted proxy; the hasher counts what reaches its threads.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc

from app.bootstrap import build_application
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import make_settings
from tests.support.client import PASSWORD, unique_email
from tests.support.error_details import retry_delay_seconds
from tests.support.passwords import CountingHasher

WRONG = "not the right password"
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED

# Long first waits: nothing expires while a test runs unless it says so.
STRICT = {"account_free_failures": 3, "address_free_failures": 1000, "first_wait_seconds": 60.0}
# Three free failures per account and per address, then a wait longer than any test.
SMALL = {"account_free_failures": 3, "address_free_failures": 3, "first_wait_seconds": 60.0}


@dataclass
class Instance:
    application: Application
    stub: pb_grpc.UserServiceAsyncStub
    hasher: CountingHasher


@contextlib.asynccontextmanager
async def instance(
    throttling: dict[str, Any], delay_seconds: float = 0.0, **sections: dict[str, Any]
) -> AsyncIterator[Instance]:
    """A service with these limits, trusting 127.0.0.1's x-forwarded-for."""
    settings = make_settings(
        throttling=throttling, grpc={"trusted_proxies": ["127.0.0.1/32"]}, **sections
    )
    hasher = CountingHasher(settings, delay_seconds)
    application = await build_application(settings, passwords=hasher)
    await application.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            yield Instance(application, pb_grpc.UserServiceStub(channel), hasher)
    finally:
        await application.stop(grace=0.5)


def from_address(address: str) -> tuple[tuple[str, str], ...]:
    return (("x-forwarded-for", address),)


def address() -> str:
    """A fresh documentation address (198.18.0.0/15), so tests never share one."""
    value = uuid.uuid4().int
    return f"198.{18 + value % 2}.{value >> 8 & 255}.{value >> 16 & 255}"


async def attempt(
    stub: pb_grpc.UserServiceAsyncStub, email: str, password: str, client: str, token: str = ""
) -> grpc.aio.AioRpcError | None:
    """Log in from ``client`` (with ``token`` as device-token); the error, or None if it
    succeeded."""
    metadata = from_address(client) + ((("device-token", token),) if token else ())
    try:
        await stub.Login(pb.LoginRequest(email=email, password=password), metadata=metadata)
    except grpc.aio.AioRpcError as err:
        return err
    return None


async def registered(stub: pb_grpc.UserServiceAsyncStub, client: str | None = None) -> str:
    email = unique_email("throttle")
    await stub.Register(
        pb.RegisterRequest(email=email, first_name="T", last_name="H", password=PASSWORD),
        metadata=from_address(client or address()),
    )
    return email


def retry_delay(
    error: grpc.aio.AioRpcError, message: str = "too many attempts, try again later"
) -> float:
    """The RetryInfo of a RESOURCE_EXHAUSTED answer with ``message``, in seconds."""
    assert error.code() is EXHAUSTED
    assert error.details() == message
    return retry_delay_seconds(error)


def codes(errors: list[grpc.aio.AioRpcError | None]) -> list[grpc.StatusCode]:
    return [grpc.StatusCode.OK if error is None else error.code() for error in errors]
