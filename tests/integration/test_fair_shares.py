"""Fair shares under load: one client's flood of correct logins leaves others their share.

The flood comes from 127.0.0.1; the other client reaches the same service
from 127.0.0.2 through a forwarder (``tests/support/forwarder.py``), so the
service sees two addresses without trusting any proxy. Hashing is argon2 at
its least cost, slowed in its thread so one thread makes the contention quick.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from app.bootstrap import build_application
from app.domain.clients import Client
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import make_settings
from tests.support.client import PASSWORD, register, unique_email
from tests.support.forwarder import forwarder
from tests.support.passwords import CheapPasswords

HASH_SECONDS = 0.01
ATTACKERS = 16
ACCOUNTS = 4
OTHER_LOGINS = 20
MOST_FLOOD_CALLS = 400  # per attacker: the flood ends with the other client's logins anyway


class SlowCheapPasswords(CheapPasswords):
    """The cheap hasher, each hash holding its thread ``HASH_SECONDS`` longer."""

    async def _run(self, function: Callable[..., Any], *arguments: str, **work: Any) -> Any:
        def slowed(*values: str) -> Any:
            time.sleep(HASH_SECONDS)
            return function(*values)

        return await super()._run(slowed, *arguments, **work)


@contextlib.asynccontextmanager
async def contended_service() -> AsyncIterator[Application]:
    """A service with one hashing thread and a small Login limit, shares as in production."""
    settings = make_settings(
        grpc={"method_concurrency": {"Login": 8}, "method_concurrency_client_share": 0.25},
        passwords={"max_workers": 1, "max_waiting": 8, "max_waiting_per_client": 4},
    )
    hasher = SlowCheapPasswords(max_workers=1, max_waiting=8, max_waiting_per_client=4)
    application = await build_application(settings, passwords=hasher)
    await application.start()
    try:
        yield application
    finally:
        await application.stop(grace=0.5)


async def _flood(stub: pb_grpc.UserServiceAsyncStub, emails: list[str], until: asyncio.Event):
    async def caller(n: int) -> None:
        request = pb.LoginRequest(email=emails[n % len(emails)], password=PASSWORD)
        for _ in range(MOST_FLOOD_CALLS):
            if until.is_set():
                return
            with contextlib.suppress(grpc.aio.AioRpcError):
                await stub.Login(request, timeout=5)

    await asyncio.gather(*(caller(n) for n in range(ATTACKERS)))


async def test_a_flood_of_correct_logins_from_one_address_leaves_another_its_logins(application):
    async with contended_service() as service:
        port = service.port
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as flood_channel,
            forwarder(port, "127.0.0.2") as other_port,
            grpc.aio.insecure_channel(f"127.0.0.1:{other_port}") as other_channel,
        ):
            flooding = pb_grpc.UserServiceStub(flood_channel)
            other = pb_grpc.UserServiceStub(other_channel)
            emails = [unique_email("flood") for _ in range(ACCOUNTS)]
            for email in emails:
                await register(flooding, email)
            mine = unique_email("other")
            await register(other, mine)

            done = asyncio.Event()
            flood = asyncio.ensure_future(_flood(flooding, emails, done))
            await asyncio.sleep(0.3)  # the flood holds what it can
            answers: collections.Counter[grpc.StatusCode] = collections.Counter()
            try:
                for _ in range(OTHER_LOGINS):
                    try:
                        reply = await other.Login(
                            pb.LoginRequest(email=mine, password=PASSWORD), timeout=5
                        )
                        assert reply.user.email == mine
                        answers[grpc.StatusCode.OK] += 1
                    except grpc.aio.AioRpcError as err:
                        answers[err.code()] += 1
            finally:
                done.set()
                await flood
    assert answers[grpc.StatusCode.OK] >= 0.9 * OTHER_LOGINS, answers


class GatedPasswords(CheapPasswords):
    """One hashing thread that waits for ``gate`` (open at first); records whom each
    hash was for."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, max_waiting=64)
        self.gate = threading.Event()
        self.gate.set()
        self.served: list[str] = []

    async def _run(self, function: Callable[..., Any], *arguments: str, **work: Any) -> Any:
        client = work["client"].address

        def recorded(*values: str) -> Any:
            assert self.gate.wait(10)
            self.served.append(client)
            return function(*values)

        return await super()._run(recorded, *arguments, **work)


async def _served(calls: Callable[[GatedPasswords, str], list[Any]]) -> list[str]:
    """Whom each hash was for, in the order they got the thread: ``calls(hasher, stored)``
    are queued one after the other while the thread is held, then let through."""
    hasher = GatedPasswords()
    stored = await hasher.hash(PASSWORD, client=Client("192.0.2.9"))
    hasher.served.clear()
    hasher.gate.clear()
    try:
        started = []
        for call in calls(hasher, stored):
            started.append(asyncio.ensure_future(call))
            await asyncio.sleep(0)  # queued before the next is asked for
        hasher.gate.set()
        await asyncio.gather(*started)
    finally:
        hasher.gate.set()
        hasher.close()
    return hasher.served


FLOOD, OTHER = Client("192.0.2.1"), Client("192.0.2.2")


async def test_a_client_with_one_check_waiting_is_served_before_anothers_backlog():
    served = await _served(
        lambda hasher, stored: [
            *(hasher.verify(stored, PASSWORD, client=FLOOD) for _ in range(5)),
            hasher.verify(stored, PASSWORD, client=OTHER),
        ]
    )
    # The first of the flood held the thread, the flood's next was first in turn, then
    # the other client's check; in arrival order it would have waited for all five.
    assert served.index(OTHER.address) <= 2


async def test_a_register_backlog_delays_a_login_by_a_bounded_number_of_hashes():
    served = await _served(
        lambda hasher, stored: [
            *(hasher.hash(PASSWORD, client=FLOOD) for _ in range(6)),
            hasher.verify(stored, PASSWORD, client=OTHER),
        ]
    )
    # The Register hash holding the thread, then the login's check (checks go first).
    assert served.index(OTHER.address) <= 1
