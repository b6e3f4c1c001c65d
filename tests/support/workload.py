"""A short workload that touches every kind of call the service meters."""

from __future__ import annotations

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.client import login, register, session_metadata, unique_email


async def workload(stub: pb_grpc.UserServiceAsyncStub) -> None:
    """Register, log in (right and wrong), GetMe, FindByID twice, one unauthenticated call,
    then LogoutAll.
    """
    email = unique_email()
    user = await register(stub, email)
    _, session_id = await login(stub, email)
    with pytest.raises(grpc.aio.AioRpcError):
        await login(stub, email, "not the password")
    await stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
    for _ in range(2):
        await stub.FindByID(
            pb.FindByIDRequest(uuid=user.uuid), metadata=session_metadata(session_id)
        )
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetMe(pb.GetMeRequest())
    await stub.LogoutAll(pb.LogoutAllRequest(), metadata=session_metadata(session_id))
