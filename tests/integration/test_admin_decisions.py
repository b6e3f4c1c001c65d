"""An admin's writes are decided in their own transaction: none commits after its demotion."""

from __future__ import annotations

import asyncio
import uuid

import grpc

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import use_cases_of
from tests.support.client import admin_session, register, session_metadata

TRIALS = 5
WRITERS = 6
WRITES_PER_WRITER = 200  # bounds each writer; the demotion stops them long before


async def _write_until_refused(
    stub: pb_grpc.UserServiceAsyncStub,
    metadata: tuple[tuple[str, str], ...],
    victim: str,
    started: asyncio.Event,
) -> None:
    """Disable and enable ``victim`` in turn until the caller is refused."""
    for turn in range(WRITES_PER_WRITER):
        try:
            if turn % 2 == 0:
                await stub.DisableUser(pb.DisableUserRequest(uuid=victim), metadata=metadata)
            else:
                await stub.EnableUser(pb.EnableUserRequest(uuid=victim), metadata=metadata)
        except grpc.aio.AioRpcError as err:
            assert err.code() is grpc.StatusCode.PERMISSION_DENIED, err
            return
        started.set()
    raise AssertionError("the demoted admin was never refused")


async def _writes_after_demotion(
    stub: pb_grpc.UserServiceAsyncStub, application: Application
) -> int:
    """Demote an admin while its writes are in flight; how many committed after the demotion.

    The outbox's ids follow the order in which events are written, and each
    write's event is written inside its transaction: an event of the demoted
    admin's writes with a higher id than the demotion's was written after it.
    """
    _, main_session = await admin_session(stub, use_cases_of(application).accounts)
    demoted, demoted_session = await admin_session(stub, use_cases_of(application).accounts)
    victims = [(await register(stub)).uuid for _ in range(WRITERS)]
    started = [asyncio.Event() for _ in victims]
    writers = [
        asyncio.create_task(
            _write_until_refused(stub, session_metadata(demoted_session), victim, event)
        )
        for victim, event in zip(victims, started, strict=True)
    ]
    async with asyncio.timeout(30):
        await asyncio.gather(*(event.wait() for event in started))
    await stub.SetUserRole(
        pb.SetUserRoleRequest(uuid=demoted.uuid, role="user"),
        metadata=session_metadata(main_session),
    )
    await asyncio.gather(*writers)
    late: int = await application.pool.fetchval(
        """
        SELECT count(*) FROM event_outbox
        WHERE user_id = ANY($2::uuid[]) AND id > (
            SELECT id FROM event_outbox WHERE user_id = $1 AND event_type = 'user.role_changed'
        )
        """,
        uuid.UUID(demoted.uuid),
        [uuid.UUID(victim) for victim in victims],
    )
    return late


async def test_no_write_of_a_demoted_admin_commits_after_its_demotion(stub, application):
    late = [await _writes_after_demotion(stub, application) for _ in range(TRIALS)]
    assert late == [0] * TRIALS
