"""Limits at the edge: per-method concurrency, stalled streams, and connection bounds.

Stalled streams are made with a raw HTTP/2 client (headers sent, body never),
which no gRPC library can be told to do.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.client import (
    PASSWORD,
    register,
    registered_session,
    session_metadata,
    unique_email,
)
from tests.support.health import SERVING, health_status
from tests.support.http2 import (
    GOAWAY,
    REFUSED_STREAM,
    RST_STREAM,
    SETTINGS_MAX_CONCURRENT_STREAMS,
    raw_connection,
)
from tests.support.passwords import HeldVerifications

GET_ME = "/userService.UserService/GetMe"
LOGIN = "/userService.UserService/Login"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def _sample(application, name: str, method: str) -> float:
    registry = application.telemetry.registry
    value = registry.get_sample_value(
        name, {"grpc_service": "userService.UserService", "grpc_method": method}
    )
    return value or 0.0


async def test_a_method_at_its_limit_is_refused_while_others_and_health_are_served(
    make_application, monkeypatch
):
    application = await make_application(
        grpc={"method_concurrency": {"Login": 2}},
        metrics={"enabled": True},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        email = unique_email("limit")
        await register(stub, email)
        user, session_id = await registered_session(stub)
        checks = HeldVerifications(application.passwords, monkeypatch)
        held = [
            asyncio.ensure_future(stub.Login(pb.LoginRequest(email=email, password=PASSWORD)))
            for _ in range(2)
        ]
        await checks.wait_for(len(held))

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=5)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert caught.value.details() == "server busy, try again later"
        # Other methods and health are not limited by Login's limit.
        me = await stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id), timeout=5)
        assert me.user.uuid == user.uuid
        assert await health_status(channel) == SERVING

        checks.release()
        assert all(response.session_id for response in await asyncio.gather(*held))
        # The slots are free again.
        assert (await stub.Login(pb.LoginRequest(email=email, password=PASSWORD))).session_id
    assert _sample(application, "grpc_server_concurrency_refused_total", "Login") == 1
    assert _sample(application, "grpc_server_concurrency_limit", "Login") == 2
    assert _sample(application, "grpc_server_concurrency_limit", "GetMe") == 256


async def test_stalled_streams_do_not_starve_health_or_other_calls(make_application):
    limit = 4
    application = await make_application(
        grpc={"method_concurrency_default": limit, "method_concurrency": {"Login": limit}},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        user, session_id = await registered_session(stub)
        async with raw_connection(application.port) as stalled:
            # Three times each limit, on the limited methods themselves.
            for _ in range(3 * limit):
                await stalled.open_stalled_stream(GET_ME)
                await stalled.open_stalled_stream(LOGIN)
            await asyncio.sleep(0.3)  # the server has them all as calls
            assert await health_status(channel) == SERVING
            me = await stub.GetMe(
                pb.GetMeRequest(), metadata=session_metadata(session_id), timeout=5
            )
            assert me.user.uuid == user.uuid
            login = await stub.Login(pb.LoginRequest(email=user.email, password=PASSWORD))
            assert login.session_id
            assert not stalled.closed


async def test_a_stalled_stream_is_ended_after_the_receive_timeout(make_application):
    application = await make_application(
        grpc={"receive_timeout_seconds": 0.5}, metrics={"enabled": True}
    )
    streams = 5
    async with raw_connection(application.port) as stalled:
        opened = {await stalled.open_stalled_stream(GET_ME) for _ in range(streams)}
        opened.add(await stalled.open_stalled_stream(HEALTH_CHECK))
        started = time.monotonic()
        ended: set[int] = set()
        while ended != opened:
            frame = await stalled.next_frame(timeout=5)
            if frame.ends_stream:
                ended.add(frame.stream_id)
        assert time.monotonic() - started >= 0.4  # not before the timeout
        assert not stalled.closed  # the connection itself stays usable
    assert _sample(application, "grpc_server_receive_timeouts_total", "GetMe") == streams


async def test_streams_per_connection_are_bounded(make_application):
    application = await make_application(grpc={"max_concurrent_streams": 8})
    async with raw_connection(application.port) as stalled:
        assert stalled.server_settings[SETTINGS_MAX_CONCURRENT_STREAMS] == 8
        opened = [await stalled.open_stalled_stream(GET_ME) for _ in range(12)]
        refused: set[int] = set()
        while len(refused) < 4:
            frame = await stalled.next_frame(timeout=10)
            if frame.type == RST_STREAM and frame.error_code == REFUSED_STREAM:
                refused.add(frame.stream_id)
        # Nothing else is refused: the first eight stay open.
        later = await stalled.frames(timeout=0.5)
    assert refused == set(opened[8:])
    assert not [frame for frame in later if frame.type == RST_STREAM]


async def test_an_idle_connection_is_closed(make_application):
    application = await make_application(grpc={"max_connection_idle_seconds": 0.5})
    async with raw_connection(application.port) as idle:
        frames = await idle.frames(timeout=10)
    assert any(frame.type == GOAWAY for frame in frames)


async def test_a_connection_with_a_stalled_stream_is_closed_at_its_maximum_age(make_application):
    application = await make_application(
        grpc={
            "max_connection_age_seconds": 0.5,
            "max_connection_age_grace_seconds": 0.5,
            "receive_timeout_seconds": 60,
        }
    )
    async with raw_connection(application.port) as stalled:
        await stalled.open_stalled_stream(GET_ME)
        started = time.monotonic()
        frames = await stalled.frames(timeout=15)
        assert stalled.closed
    assert any(frame.type == GOAWAY for frame in frames)
    assert time.monotonic() - started < 15


async def test_a_connection_that_never_says_hello_is_closed_after_the_handshake_timeout(
    make_application,
):
    application = await make_application(grpc={"handshake_timeout_seconds": 0.5})
    async with raw_connection(application.port, handshake=False) as silent:
        await silent.frames(timeout=15)
        assert silent.closed


async def test_calls_up_to_the_stream_limit_on_one_connection_are_never_refused(make_application):
    limit = 8
    application = await make_application(grpc={"max_concurrent_streams": limit})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        _, session_id = await registered_session(stub)
        metadata = session_metadata(session_id)

        async def caller() -> list[grpc.StatusCode]:
            codes = []
            for _ in range(40):
                try:
                    await stub.GetMe(pb.GetMeRequest(), metadata=metadata, timeout=10)
                    codes.append(grpc.StatusCode.OK)
                except grpc.aio.AioRpcError as err:
                    codes.append(err.code())
            return codes

        # Twice the limit: the client queues the excess itself, as HTTP/2 says.
        results = await asyncio.gather(*(caller() for _ in range(2 * limit)))
    assert {code for codes in results for code in codes} == {grpc.StatusCode.OK}
