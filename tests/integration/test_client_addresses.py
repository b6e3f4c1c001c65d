"""The client's address over IPv6: what ListSessions shows and what the throttle counts.

The service listens on ``[::1]``, so gRPC reports each caller as
``ipv6:%5B::1%5D:<port>``; every call also carries an ``x-forwarded-for``
naming a fresh IPv6 address, as a proxy in front would.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.application import running_application
from tests.support.client import PASSWORD, register, session_metadata, unique_email
from tests.support.throttling import WRONG, attempt, codes

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
# Two failures per address, then a minute's wait: the third tells who was counted.
THROTTLING: dict[str, Any] = {
    "account_free_failures": 1000,
    "address_free_failures": 2,
    "first_wait_seconds": 60.0,
}


def forwarded() -> str:
    """A fresh documentation address (2001:db8::/32) in a /64 of its own, with a port."""
    value = uuid.uuid4().int
    return f"[2001:db8:{value & 0xFFFF:x}:{value >> 16 & 0xFFFF:x}::9]:443"


@contextlib.asynccontextmanager
async def ipv6_service(*trusted_proxies: str) -> AsyncIterator[pb_grpc.UserServiceAsyncStub]:
    grpc_settings = {"host": "::1", "trusted_proxies": list(trusted_proxies)}
    async with (
        running_application(grpc=grpc_settings, throttling=THROTTLING) as application,
        grpc.aio.insecure_channel(f"[::1]:{application.port}") as channel,
    ):
        yield pb_grpc.UserServiceStub(channel)


async def listed_address(stub: pb_grpc.UserServiceAsyncStub, client: str) -> str:
    """The address ListSessions shows for a session made from ``client``."""
    email = unique_email("ipv6")
    await register(stub, email, metadata=(("x-forwarded-for", client),))
    login = await stub.Login(
        pb.LoginRequest(email=email, password=PASSWORD), metadata=(("x-forwarded-for", client),)
    )
    listed = await stub.ListSessions(
        pb.ListSessionsRequest(), metadata=session_metadata(login.session_id)
    )
    [session] = listed.sessions
    return session.client_address


async def third_failure(stub: pb_grpc.UserServiceAsyncStub, clients: list[str]) -> grpc.StatusCode:
    """Two failed logins from the first two clients, then the third's code."""
    first = [await attempt(stub, unique_email(), WRONG, client) for client in clients[:2]]
    assert codes(first) == [UNAUTHENTICATED, UNAUTHENTICATED]
    return codes([await attempt(stub, unique_email(), WRONG, clients[2])])[0]


async def test_without_a_trusted_proxy_an_ipv6_peer_is_the_client(application):
    async with ipv6_service() as stub:
        assert await listed_address(stub, forwarded()) == "::1"
        # Three forwarded addresses, one peer: all three failures count against ::1.
        assert await third_failure(stub, [forwarded() for _ in range(3)]) is EXHAUSTED


async def test_behind_a_trusted_ipv6_proxy_the_forwarded_address_is_the_client(application):
    async with ipv6_service("::1/128") as stub:
        client = forwarded()
        assert await listed_address(stub, client) == client.removeprefix("[").split("]")[0]
        # Each forwarded address is counted as its own client.
        assert await third_failure(stub, [forwarded() for _ in range(3)]) is UNAUTHENTICATED
        same = forwarded()
        assert await third_failure(stub, [same, same, same]) is EXHAUSTED
