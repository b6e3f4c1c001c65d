"""The edge: requests that cannot be decoded, ambiguous credentials, and calls
the client gives up on.

Each is answered with a clear status, written as one structured log line,
counted in the gRPC server metrics and traced with its real code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.bootstrap import build_application
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from app.usecases.users import UserUseCase
from tests.support.application import make_settings
from tests.support.client import eventually, register, registered_session, session_metadata
from tests.support.logs import LogLines, captured_logs
from tests.support.metrics import scrape, value
from tests.support.passwords import cheap_passwords_for

SERVICE = pb.DESCRIPTOR.services_by_name["UserService"]
METHODS = [method.name for method in SERVICE.methods]
# A varint whose continuation bits never end: no protobuf message decodes from it.
NOT_A_MESSAGE = b"\xff\xff\xff\xff"


def _first_string_field(method: str) -> FieldDescriptor | None:
    fields = SERVICE.methods_by_name[method].input_type.fields
    return next((f for f in fields if f.type == FieldDescriptor.TYPE_STRING), None)


def bad_utf8_request(field: FieldDescriptor) -> bytes:
    """``field`` (a string) on the wire, holding bytes that are not UTF-8."""
    value = b"\xc3\x28\xff\xfe"
    return bytes([(field.number << 3) | 2, len(value)]) + value


async def raw_call(channel: grpc.aio.Channel, method: str, body: bytes, **kwargs: Any) -> bytes:
    """Send ``body`` as the request of ``method`` without encoding it."""
    call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        f"/{SERVICE.full_name}/{method}", request_serializer=None, response_deserializer=None
    )
    response: bytes = await call(body, **kwargs)
    return response


class Edge:
    """A service with metrics and tracing on, and a channel to it."""

    def __init__(self, application: Application, exporter: InMemorySpanExporter) -> None:
        self.application = application
        self.exporter = exporter
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{application.port}")
        self.stub = pb_grpc.UserServiceStub(self.channel)

    async def handled(self, method: str, code: str) -> float:
        assert self.application.metrics_port
        samples = await scrape(self.application.metrics_port)
        return value(samples, "grpc_server_handled_total", grpc_method=method, grpc_code=code)

    async def server_span(self, method: str) -> ReadableSpan:
        """The latest SERVER span of ``method`` (it ends after the reply is sent)."""
        tracing = self.application.telemetry.tracing
        assert tracing is not None
        deadline = time.monotonic() + 10
        while True:
            tracing.force_flush()
            spans = [
                span
                for span in self.exporter.get_finished_spans()
                if span.kind is SpanKind.SERVER and span.name == f"{SERVICE.full_name}/{method}"
            ]
            if spans:
                return spans[-1]
            assert time.monotonic() < deadline, f"no server span for {method}"
            await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
async def edge(application: Application) -> AsyncIterator[Edge]:
    # ``application`` keeps the run's stores alive until this one has stopped.
    exporter = InMemorySpanExporter()
    settings = make_settings(tracing={"enabled": True}, metrics={"enabled": True})
    built = await build_application(
        settings, span_exporter=exporter, passwords=cheap_passwords_for(settings)
    )
    await built.start()
    edge = Edge(built, exporter)
    try:
        yield edge
    finally:
        await edge.channel.close()
        await built.stop(grace=0.5)


async def rpc_line(logs: LogLines, method: str) -> dict[str, Any]:
    """The RPC log line of ``method`` (written just after the status reaches the client)."""
    rpc_method = f"/{SERVICE.full_name}/{method}"

    def lines() -> list[dict[str, Any]]:
        return [line for line in logs.events("rpc finished") if line["rpc_method"] == rpc_method]

    async def written() -> bool:
        return bool(lines())

    await eventually(written, timeout=5)
    [line] = lines()
    return line


@pytest.mark.parametrize("method", METHODS)
async def test_bytes_that_are_not_a_message_answer_invalid_argument(channel, method):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw_call(channel, method, NOT_A_MESSAGE)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "malformed request"


async def test_a_malformed_health_check_is_invalid_argument_too(channel):
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await check(NOT_A_MESSAGE)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("method", [m for m in METHODS if _first_string_field(m) is not None])
async def test_a_string_field_with_bad_utf8_answers_invalid_argument(channel, method):
    field = _first_string_field(method)
    assert field is not None
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw_call(channel, method, bad_utf8_request(field))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "malformed request"


async def test_a_malformed_request_is_logged_once_counted_and_traced(edge: Edge) -> None:
    with captured_logs() as logs:
        with pytest.raises(grpc.aio.AioRpcError):
            await raw_call(edge.channel, "FindByEmail", NOT_A_MESSAGE)
        line = await rpc_line(logs, "FindByEmail")

    assert line["grpc_code"] == "INVALID_ARGUMENT"
    assert line["level"] == "info"
    [malformed] = logs.events("malformed request")
    assert malformed["rpc_method"] == f"/{SERVICE.full_name}/FindByEmail"
    assert malformed["error"].startswith("DecodeError")
    assert malformed["trace_id"] == line["trace_id"]
    assert "Traceback" not in logs.text
    assert await edge.handled("FindByEmail", "InvalidArgument") == 1
    span = await edge.server_span("FindByEmail")
    assert (span.attributes or {})[
        "rpc.grpc.status_code"
    ] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    # The service goes on serving.
    assert (await register(edge.stub)).uuid


async def _hanging_login(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> asyncio.Semaphore:
    """Make Login wait forever inside the use case; the semaphore is released on entry."""
    entered = asyncio.Semaphore(0)

    async def hang(*_: object, **__: object) -> None:
        entered.release()
        await asyncio.Event().wait()

    # Every UserUseCase for the test: the servicer's own is not reachable from outside.
    monkeypatch.setattr(UserUseCase, "login_or_ticket", hang)
    return entered


async def test_a_cancelled_call_is_logged_counted_and_traced_as_cancelled(
    edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered = await _hanging_login(edge, monkeypatch)
    with captured_logs() as logs:
        call = edge.stub.Login(pb.LoginRequest(email="ada@example.com", password="whatever"))
        await entered.acquire()
        call.cancel()
        line = await rpc_line(logs, "Login")

    assert line["grpc_code"] == "CANCELLED"
    assert line["level"] == "info"
    assert await edge.handled("Login", "Canceled") == 1
    span = await edge.server_span("Login")
    assert (span.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]
    assert span.status.status_code is StatusCode.ERROR
    assert not span.events


async def test_a_call_past_its_deadline_is_logged_as_deadline_exceeded(
    edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _hanging_login(edge, monkeypatch)
    with captured_logs() as logs:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await edge.stub.Login(
                pb.LoginRequest(email="ada@example.com", password="whatever"), timeout=0.3
            )
        line = await rpc_line(logs, "Login")

    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert line["grpc_code"] == "DEADLINE_EXCEEDED"
    assert await edge.handled("Login", "DeadlineExceeded") == 1


async def test_more_than_one_credential_is_unauthenticated_even_when_one_is_valid(stub):
    _, session_id = await registered_session(stub)
    _, other_session_id = await registered_session(stub)
    assert (await stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))).user
    bearer = f"Bearer {session_id}"
    for metadata in (
        (("session_id", session_id), ("session_id", other_session_id)),
        (("session_id", session_id), ("session_id", session_id)),
        (("authorization", bearer), ("authorization", f"Bearer {other_session_id}")),
        (("session_id", "not a session"), ("authorization", bearer)),
        (("authorization", bearer), ("session_id", session_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetMe(pb.GetMeRequest(), metadata=metadata)
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert caught.value.details() == "a valid session is required"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(stub, metadata=(("session_id", session_id), ("session_id", session_id)))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_metadata_over_grpcs_limit_is_resource_exhausted_and_the_service_goes_on(stub):
    _, session_id = await registered_session(stub)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMe(pb.GetMeRequest(), metadata=(("x-padding", "x" * 20_000),))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))).user
