"""Two instances on different ports sharing PostgreSQL and Redis act as one service."""

from __future__ import annotations

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.application import use_cases_of
from tests.support.client import (
    admin_session,
    failure,
    login,
    other_session_handle,
    register,
    session_metadata,
    unique_email,
)


async def test_a_session_made_on_one_instance_works_and_ends_on_the_other(make_application):
    first, second = await make_application(), await make_application()
    assert first.port != second.port
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{first.port}") as first_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as second_channel,
    ):
        on_first = pb_grpc.UserServiceStub(first_channel)
        on_second = pb_grpc.UserServiceStub(second_channel)
        email = unique_email("twin")
        registered = await register(on_first, email)
        user, session_id = await login(on_first, email)
        metadata = session_metadata(session_id)

        # Made on the first, it works on the second.
        me = await on_second.GetMe(pb.GetMeRequest(), metadata=metadata)
        assert me.user.uuid == user.uuid == registered.uuid
        found = await on_second.FindByID(pb.FindByIDRequest(uuid=user.uuid), metadata=metadata)
        assert found.user.email == email

        # Ended on the first, it is gone on the second.
        await on_first.Logout(pb.LogoutRequest(), metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await on_second.GetMe(pb.GetMeRequest(), metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

        # And the other way round: made on the second, ended there, gone on the first.
        _, other_session = await login(on_second, email)
        again = await on_first.GetMe(pb.GetMeRequest(), metadata=session_metadata(other_session))
        assert again.user.uuid == user.uuid
        await on_second.Logout(pb.LogoutRequest(), metadata=session_metadata(other_session))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await on_first.GetMe(pb.GetMeRequest(), metadata=session_metadata(other_session))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_revocations_and_admin_changes_on_one_instance_hold_at_once_on_the_other(
    make_application,
):
    first, second = await make_application(), await make_application()
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{first.port}") as first_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as second_channel,
    ):
        on_first = pb_grpc.UserServiceStub(first_channel)
        on_second = pb_grpc.UserServiceStub(second_channel)
        _, admin_id = await admin_session(on_first, use_cases_of(first).accounts)
        admin = session_metadata(admin_id)
        email = unique_email("twin-revoked")
        user = await register(on_first, email)
        _, kept = await login(on_first, email)
        _, revoked = await login(on_first, email)

        # A session revoked by its handle on the second is gone on the first.
        handle = await other_session_handle(on_second, kept)
        await on_second.RevokeSession(
            pb.RevokeSessionRequest(handle=handle), metadata=session_metadata(kept)
        )
        gone = await failure(on_first.GetMe(pb.GetMeRequest(), metadata=session_metadata(revoked)))
        assert gone.code() == grpc.StatusCode.UNAUTHENTICATED

        # An admin promotes the user on the first: the second authorizes as admin at once.
        await on_first.SetUserRole(
            pb.SetUserRoleRequest(uuid=user.uuid, role="admin"), metadata=admin
        )
        me = await on_second.GetMe(pb.GetMeRequest(), metadata=session_metadata(kept))
        assert me.user.role == "admin"

        # Disabled on the second, the user's session fails on the first at once.
        await on_second.DisableUser(pb.DisableUserRequest(uuid=user.uuid), metadata=admin)
        refused = await failure(on_first.GetMe(pb.GetMeRequest(), metadata=session_metadata(kept)))
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
