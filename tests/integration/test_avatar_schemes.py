"""An avatar's scheme is https unless the operator lists others (APP_PROFILES__AVATAR_SCHEMES)."""

from __future__ import annotations

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.application import running_application
from tests.support.client import PASSWORD, unique_email

HTTP_AVATAR = "http://cdn.example.com/ada.png"


def _registration(avatar: str) -> pb.RegisterRequest:
    return pb.RegisterRequest(
        email=unique_email(),
        first_name="Ada",
        last_name="Lovelace",
        password=PASSWORD,
        avatar=avatar,
    )


async def test_an_http_avatar_is_refused_by_default(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Register(_registration(HTTP_AVATAR))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "https" in (caught.value.details() or "")


async def test_an_operator_may_allow_http_avatars_but_never_javascript(application):
    async with (
        running_application(profiles={"avatar_schemes": ["https", "http"]}) as service,
        grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel,
    ):
        stub = pb_grpc.UserServiceStub(channel)
        registered = await stub.Register(_registration(HTTP_AVATAR))
        assert registered.user.avatar == HTTP_AVATAR
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Register(_registration("javascript://example.com/%0Aalert(1)"))
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
