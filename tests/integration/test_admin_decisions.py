"""An admin's writes are decided in their own transaction: none commits after its demotion.

That holds for the admin changes (DisableUser, EnableUser) and for Register of
an admin, whose role check must also happen where the user is inserted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import grpc

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import use_cases_of
from tests.support.client import PASSWORD, admin_session, register, session_metadata, unique_email

TRIALS = 5
WRITERS = 6
WRITES_PER_WRITER = 200  # bounds each writer; the demotion stops them long before

Metadata = tuple[tuple[str, str], ...]
# One writer's write number ``turn``, made with the admin's session metadata.
Write = Callable[[int], Awaitable[object]]


async def _write_until_refused(write: Write, started: asyncio.Event) -> None:
    """Write again and again until the caller is refused."""
    for turn in range(WRITES_PER_WRITER):
        try:
            await write(turn)
        except grpc.aio.AioRpcError as err:
            assert err.code() is grpc.StatusCode.PERMISSION_DENIED, err
            return
        started.set()
    raise AssertionError("the demoted admin was never refused")


async def _demoted_while_writing(
    stub: pb_grpc.UserServiceAsyncStub,
    application: Application,
    writers: Callable[[Metadata], list[Write]],
) -> int:
    """Demote an admin while its ``writers`` are in flight; the outbox id of the demotion.

    The outbox's ids follow the order in which events are written, and each
    write's event is written inside its transaction: an event of the demoted
    admin's writes with a higher id than the demotion's was written after it.
    """
    accounts = use_cases_of(application).accounts
    _, main_session = await admin_session(stub, accounts)
    demoted, demoted_session = await admin_session(stub, accounts)
    writes = writers(session_metadata(demoted_session))
    started = [asyncio.Event() for _ in writes]
    tasks = [
        asyncio.create_task(_write_until_refused(write, event))
        for write, event in zip(writes, started, strict=True)
    ]
    async with asyncio.timeout(30):
        await asyncio.gather(*(event.wait() for event in started))
    await stub.SetUserRole(
        pb.SetUserRoleRequest(uuid=demoted.uuid, role="user"),
        metadata=session_metadata(main_session),
    )
    await asyncio.gather(*tasks)
    demotion: int = await application.pool.fetchval(
        "SELECT id FROM event_outbox WHERE user_id = $1 AND event_type = 'user.role_changed'",
        uuid.UUID(demoted.uuid),
    )
    return demotion


async def _changes_after_demotion(
    stub: pb_grpc.UserServiceAsyncStub, application: Application
) -> int:
    """How many of a demoted admin's disables and enables committed after its demotion."""
    victims = [(await register(stub)).uuid for _ in range(WRITERS)]

    def writers(metadata: Metadata) -> list[Write]:
        def toggle(victim: str) -> Write:
            async def write(turn: int) -> object:
                if turn % 2 == 0:
                    return await stub.DisableUser(
                        pb.DisableUserRequest(uuid=victim), metadata=metadata
                    )
                return await stub.EnableUser(pb.EnableUserRequest(uuid=victim), metadata=metadata)

            return write

        return [toggle(victim) for victim in victims]

    demotion = await _demoted_while_writing(stub, application, writers)
    late: int = await application.pool.fetchval(
        "SELECT count(*) FROM event_outbox WHERE user_id = ANY($1::uuid[]) AND id > $2",
        [uuid.UUID(victim) for victim in victims],
        demotion,
    )
    return late


async def _registrations_after_demotion(
    stub: pb_grpc.UserServiceAsyncStub, application: Application
) -> int:
    """How many admins a demoted admin registered after its demotion."""
    tag = f"race-{uuid.uuid4().hex[:12]}"

    def writers(metadata: Metadata) -> list[Write]:
        async def write(turn: int) -> object:
            request = pb.RegisterRequest(
                email=unique_email(tag),
                first_name="New",
                last_name="Admin",
                password=PASSWORD,
                role="admin",
            )
            return await stub.Register(request, metadata=metadata)

        return [write] * WRITERS

    demotion = await _demoted_while_writing(stub, application, writers)
    late: int = await application.pool.fetchval(
        "SELECT count(*) FROM event_outbox WHERE event_type = 'user.registered'"
        " AND starts_with(data->>'email', $1) AND id > $2",
        f"{tag}-",
        demotion,
    )
    return late


async def test_no_write_of_a_demoted_admin_commits_after_its_demotion(stub, application):
    late = [await _changes_after_demotion(stub, application) for _ in range(TRIALS)]
    assert late == [0] * TRIALS


async def test_no_admin_registered_by_a_demoted_admin_commits_after_its_demotion(stub, application):
    late = [await _registrations_after_demotion(stub, application) for _ in range(TRIALS)]
    assert late == [0] * TRIALS


async def _deletions_after_demotion(
    stub: pb_grpc.UserServiceAsyncStub, application: Application
) -> int:
    """How many users a demoted admin deleted after its demotion."""
    victims = [(await register(stub)).uuid for _ in range(WRITERS * 8)]

    def writers(metadata: Metadata) -> list[Write]:
        def deleting(start: int) -> Write:
            async def write(turn: int) -> object:
                victim = victims[(start + turn * WRITERS) % len(victims)]
                try:
                    return await stub.DeleteUser(
                        pb.DeleteUserRequest(uuid=victim), metadata=metadata
                    )
                except grpc.aio.AioRpcError as err:
                    if err.code() is grpc.StatusCode.NOT_FOUND:
                        return None  # deleted already: the writer goes on
                    raise

            return write

        return [deleting(start) for start in range(WRITERS)]

    demotion = await _demoted_while_writing(stub, application, writers)
    late: int = await application.pool.fetchval(
        "SELECT count(*) FROM event_outbox WHERE event_type = 'user.deleted'"
        " AND user_id = ANY($1::uuid[]) AND id > $2",
        [uuid.UUID(victim) for victim in victims],
        demotion,
    )
    return late


async def test_no_deletion_by_a_demoted_admin_commits_after_its_demotion(stub, application):
    late = [await _deletions_after_demotion(stub, application) for _ in range(TRIALS)]
    assert late == [0] * TRIALS
