"""Calls whose request never comes are seen like any other: logged and counted.

A client may close its side without sending the request message, or send
headers and stall; both end early, and both must still appear as an
``rpc finished`` line and in ``grpc_server_handled_total`` with their code.
"""

from __future__ import annotations

from typing import Any

import grpc

from app.grpc.generated import user_service_pb2 as pb
from tests.support.client import eventually
from tests.support.http2 import raw_connection
from tests.support.logs import LogLines, captured_logs

GET_ME = "/userService.UserService/GetMe"


async def _finished_line(logs: LogLines) -> dict[str, Any]:
    """The call's ``rpc finished`` line; it may follow the status the client already has."""

    async def logged() -> bool:
        return any(line["rpc_method"] == GET_ME for line in logs.events("rpc finished"))

    await eventually(logged, timeout=5)
    [finished] = [line for line in logs.events("rpc finished") if line["rpc_method"] == GET_ME]
    return finished


def _handled(application, method: str, code: str) -> float:
    registry = application.telemetry.registry
    labels = {
        "grpc_type": "unary",
        "grpc_service": "userService.UserService",
        "grpc_method": method,
        "grpc_code": code,
    }
    return registry.get_sample_value("grpc_server_handled_total", labels) or 0.0


async def test_a_call_closed_without_its_request_is_logged_and_counted(make_application):
    application = await make_application(metrics={"enabled": True})
    with captured_logs() as logs:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            # Sent as a client stream with no message: the unary method sees none.
            no_request = channel.stream_unary(
                GET_ME,
                request_serializer=pb.GetMeRequest.SerializeToString,
                response_deserializer=pb.GetMeResponse.FromString,
            )
            try:
                await no_request(iter(()), timeout=5)
            except grpc.aio.AioRpcError as err:
                assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
            else:
                raise AssertionError("a call without its request succeeded")
        finished = await _finished_line(logs)
    assert finished["grpc_code"] == "INVALID_ARGUMENT"
    assert {"duration_ms", "peer"} <= finished.keys()
    assert _handled(application, "GetMe", "InvalidArgument") == 1


async def test_a_call_whose_request_comes_too_late_is_logged_and_counted(make_application):
    application = await make_application(
        grpc={"receive_timeout_seconds": 0.3}, metrics={"enabled": True}
    )
    with captured_logs() as logs:
        async with raw_connection(application.port) as stalled:
            stream = await stalled.open_stalled_stream(GET_ME)
            for _ in range(100):
                frame = await stalled.next_frame(timeout=5)
                if frame.stream_id == stream and frame.ends_stream:
                    break
        finished = await _finished_line(logs)
    assert finished["grpc_code"] == "DEADLINE_EXCEEDED"
    assert _handled(application, "GetMe", "DeadlineExceeded") == 1
