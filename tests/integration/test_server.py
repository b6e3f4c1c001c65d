"""The server as operators and tools see it: health, reflection, limits, failures, shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.client import (
    PASSWORD,
    eventually,
    register,
    registered_session,
    session_metadata,
    unique_email,
)
from tests.support.health import NOT_SERVING, SERVING, health_status
from tests.support.logs import captured_logs


@pytest.mark.parametrize("service", ["", "userService.UserService"])
async def test_health_is_serving_while_the_stores_answer(channel, service):
    assert await health_status(channel, service) == SERVING


async def test_health_is_not_serving_when_redis_does_not_answer(make_application):
    application = await make_application(redis={"url": "redis://127.0.0.1:1/0"})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        assert await health_status(channel, "") == NOT_SERVING
        # The service keeps running and says why a call cannot be served.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb_grpc.UserServiceStub(channel).GetMe(
                pb.GetMeRequest(), metadata=session_metadata("anything")
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_reflection_lists_the_user_service(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def requests():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for response in stub.ServerReflectionInfo(requests()):
        names = {service.name for service in response.list_services_response.service}
        break
    assert "userService.UserService" in names
    assert "grpc.health.v1.Health" in names


async def test_a_request_over_the_size_cap_is_resource_exhausted(stub, settings):
    oversized = "x" * (settings.grpc.max_request_bytes + 1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Register(pb.RegisterRequest(email=unique_email(), avatar=oversized))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # And the next call is served normally.
    assert (await register(stub)).uuid


async def test_an_unexpected_error_is_internal_and_generic_and_logged(stub, redis, settings):
    user, session_id = await registered_session(stub)
    await redis.hset(f"{settings.redis.key_prefix}principal:{user.uuid}", "user", b"{not json")
    with captured_logs() as captured, pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error"
    assert "unexpected error" in captured.text
    assert "JSONDecodeError" in captured.text
    assert session_id not in captured.text
    # The service keeps running.
    assert (await register(stub)).uuid


async def test_shutdown_lets_in_flight_calls_finish_then_refuses_new_ones(
    make_application, monkeypatch
):
    application = await make_application()
    calls = 3
    hashing = asyncio.Semaphore(0)
    real_hash = application.passwords.hash

    async def hash_and_signal(password: str, **work: Any) -> str:
        hashing.release()  # the call is on the server, inside the use case
        return await real_hash(password, **work)

    monkeypatch.setattr(application.passwords, "hash", hash_and_signal)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        draining = pb_grpc.UserServiceStub(channel)
        in_flight = [
            asyncio.create_task(register(draining, unique_email("drain"))) for _ in range(calls)
        ]
        for _ in range(calls):
            await hashing.acquire()
        await application.stop(grace=5.0)
        users = await asyncio.gather(*in_flight)
        assert all(user.uuid for user in users)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await draining.Login(pb.LoginRequest(email=users[0].email, password=PASSWORD))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_log_lines_are_json_with_method_code_and_duration(stub):
    with captured_logs() as captured:

        async def logged() -> bool:
            return bool(captured.events("rpc finished"))

        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetMe(pb.GetMeRequest())
        # The status reaches the client before the interceptor's line is written.
        await eventually(logged, timeout=5)
    line = captured.events("rpc finished")[-1]
    assert line["rpc_method"] == "/userService.UserService/GetMe"
    assert line["grpc_code"] == "UNAUTHENTICATED"
    assert line["duration_ms"] >= 0
    assert line["peer"]
