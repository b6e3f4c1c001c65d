"""Traces through every layer: server span → use case → repository → SQL / Redis spans."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.bootstrap import build_application
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import make_settings
from tests.support.client import PASSWORD, login, register, session_metadata, unique_email
from tests.support.logs import captured_logs
from tests.support.passwords import cheap_passwords_for

SERVICE = "userService.UserService"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
FAILING_TRACE_ID = "6e0c63257de34c92bf9efcd03927272e"
SAMPLED_TRACE_ID = "5c0a1e6f4b2d4e8f9a7b3c1d2e4f6a8b"
PARENT_ID = "00f067aa0ba902b7"


class Traced:
    """A service with tracing on, exporting to memory, and a stub to call it."""

    def __init__(self, application: Application, exporter: InMemorySpanExporter) -> None:
        self.application = application
        self.exporter = exporter
        self.stub: pb_grpc.UserServiceAsyncStub

    async def server_span(self, method: str, trace_id: int | None = None) -> ReadableSpan:
        """The latest SERVER span of ``method`` (the span ends after the reply is sent)."""
        deadline = time.monotonic() + 10
        while True:
            assert self.application.telemetry.tracing is not None
            self.application.telemetry.tracing.force_flush()
            spans = [
                span
                for span in self.exporter.get_finished_spans()
                if span.kind is SpanKind.SERVER
                and span.name == f"{SERVICE}/{method}"
                and (trace_id is None or span.context.trace_id == trace_id)
            ]
            if spans:
                return spans[-1]
            assert time.monotonic() < deadline, f"no server span for {method}"
            await asyncio.sleep(0.02)

    def trace_of(self, root: ReadableSpan) -> list[ReadableSpan]:
        return [
            s
            for s in self.exporter.get_finished_spans()
            if s.context.trace_id == root.context.trace_id
        ]


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def child(spans: list[ReadableSpan], parent: ReadableSpan, name: str) -> ReadableSpan:
    found = [s for s in children(spans, parent) if s.name == name]
    names = [s.name for s in children(spans, parent)]
    assert found, f"{parent.name} has no child {name}; it has {names}"
    return found[0]


def store_children(
    spans: list[ReadableSpan], parent: ReadableSpan, system: str
) -> list[ReadableSpan]:
    found = [
        s
        for s in children(spans, parent)
        if s.kind is SpanKind.CLIENT and (s.attributes or {}).get("db.system") == system
    ]
    assert found, f"{parent.name} has no {system} span beneath it"
    return found


def store_child(spans: list[ReadableSpan], parent: ReadableSpan, system: str) -> ReadableSpan:
    return store_children(spans, parent, system)[0]


@pytest.fixture(scope="module")
async def traced(application: Application) -> AsyncIterator[Traced]:
    # ``application`` keeps the run's stores alive until this one has stopped.
    exporter = InMemorySpanExporter()
    settings = make_settings(tracing={"enabled": True})
    traced = await build_application(
        settings, span_exporter=exporter, passwords=cheap_passwords_for(settings)
    )
    await traced.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{traced.port}")
    service = Traced(traced, exporter)
    service.stub = pb_grpc.UserServiceStub(channel)
    try:
        yield service
    finally:
        await channel.close()
        await traced.stop(grace=0.5)


async def test_register_is_traced_down_to_the_insert(traced: Traced) -> None:
    await register(traced.stub, unique_email())

    server = await traced.server_span("Register")
    spans = traced.trace_of(server)
    use_case = child(spans, server, "UserUseCase.register")
    repository = child(spans, use_case, "UserPgRepository.add")
    statements = [
        str((span.attributes or {})["db.statement"])
        for span in store_children(spans, repository, "postgresql")
    ]
    assert server.attributes is not None
    assert server.attributes["rpc.system"] == "grpc"
    assert server.attributes["rpc.service"] == SERVICE
    assert server.attributes["rpc.method"] == "Register"
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.OK.value[0]
    assert server.status.status_code is StatusCode.UNSET
    assert any("INSERT INTO users" in statement for statement in statements)


async def test_login_continues_the_callers_trace_and_reaches_postgres_and_redis(
    traced: Traced,
) -> None:
    email = unique_email()
    await register(traced.stub, email)
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"

    await traced.stub.Login(
        pb.LoginRequest(email=email, password=PASSWORD), metadata=(("traceparent", traceparent),)
    )

    server = await traced.server_span("Login", trace_id=int(TRACE_ID, 16))
    assert server.parent is not None and server.parent.span_id == int(PARENT_ID, 16)
    spans = traced.trace_of(server)
    use_case = child(spans, server, "UserUseCase.login")
    store_child(
        spans, child(spans, use_case, "UserPgRepository.get_with_password_hash"), "postgresql"
    )
    store_child(spans, child(spans, use_case, "SessionRedisRepository.create"), "redis")


async def test_get_me_resolves_the_session_in_one_redis_script(traced: Traced) -> None:
    email = unique_email()
    await register(traced.stub, email)
    _, session_id = await login(traced.stub, email)

    await traced.stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))

    server = await traced.server_span("GetMe")
    spans = traced.trace_of(server)
    use_case = child(
        spans, child(spans, server, "SessionUseCase.authenticate"), "SessionUseCase.caller"
    )
    script = store_child(spans, child(spans, use_case, "SessionRedisRepository.resolve"), "redis")
    assert script.name == "EVALSHA"
    # The arguments (the session's digest among them) are never recorded.
    assert set(str((script.attributes or {})["db.statement"]).split()) == {"EVALSHA", "?"}


async def test_find_by_id_reads_postgres_on_a_cache_miss_and_only_redis_on_a_hit(
    traced: Traced,
) -> None:
    email = unique_email()
    user = await register(traced.stub, email)
    _, session_id = await login(traced.stub, email)
    request = pb.FindByIDRequest(uuid=user.uuid)

    await traced.stub.FindByID(request, metadata=session_metadata(session_id))
    miss = await traced.server_span("FindByID")
    await traced.stub.FindByID(request, metadata=session_metadata(session_id))
    hit = await traced.server_span("FindByID")

    assert hit.context.trace_id != miss.context.trace_id
    spans = traced.trace_of(miss)
    use_case = child(spans, miss, "UserUseCase.find_by_id")
    store_child(spans, child(spans, use_case, "UserRedisCache.get"), "redis")
    store_child(spans, child(spans, use_case, "UserPgRepository.get_by_id"), "postgresql")
    store_child(spans, child(spans, use_case, "UserRedisCache.put"), "redis")
    spans = traced.trace_of(hit)
    use_case = child(spans, hit, "UserUseCase.find_by_id")
    assert [s.name for s in children(spans, use_case)] == ["UserRedisCache.get"]


async def test_a_failing_call_marks_its_spans_as_errors_with_the_code(traced: Traced) -> None:
    email = unique_email()
    await register(traced.stub, email)

    # A trace of its own: the server span ends after the status reaches the
    # caller, so "the latest Login span" could still be an earlier test's.
    traceparent = f"00-{FAILING_TRACE_ID}-{PARENT_ID}-01"

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await traced.stub.Login(
            pb.LoginRequest(email=email, password="wrong password, surely"),
            metadata=(("traceparent", traceparent),),
        )

    assert failure.value.code() is grpc.StatusCode.UNAUTHENTICATED
    server = await traced.server_span("Login", trace_id=int(FAILING_TRACE_ID, 16))
    assert server.status.status_code is StatusCode.ERROR
    assert (server.attributes or {})[
        "rpc.grpc.status_code"
    ] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    use_case = child(traced.trace_of(server), server, "UserUseCase.login")
    assert use_case.status.status_code is StatusCode.ERROR
    assert [event.name for event in use_case.events] == ["exception"]
    exception_type = str((use_case.events[0].attributes or {})["exception.type"])
    assert exception_type.endswith("InvalidCredentials")


async def test_no_span_carries_a_password_hash_or_session_id(traced: Traced, settings) -> None:
    email = unique_email()
    await register(traced.stub, email)
    _, session_id = await login(traced.stub, email)
    await traced.stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
    await traced.stub.Logout(pb.LogoutRequest(), metadata=session_metadata(session_id))
    await traced.server_span("Logout")
    password_hash = await traced.application.pool.fetchval(
        "SELECT password_hash FROM users WHERE email = $1", email
    )

    secrets = {PASSWORD, password_hash, session_id}
    for span in traced.exporter.get_finished_spans():
        texts = [str(value) for value in (span.attributes or {}).values()]
        texts += [str(v) for event in span.events for v in (event.attributes or {}).values()]
        for text in texts:
            assert not any(secret in text for secret in secrets), f"secret in {span.name}"


async def test_log_lines_of_a_traced_flow_carry_the_trace_and_no_secret(
    traced: Traced,
) -> None:
    email = unique_email()
    with captured_logs() as captured:
        await register(traced.stub, email)
        _, session_id = await login(traced.stub, email)
        await traced.stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
        with pytest.raises(grpc.aio.AioRpcError):
            await login(traced.stub, email, "not the password")
        server = await traced.server_span("Login")

    finished = captured.events("rpc finished")
    assert {line["rpc_method"].rsplit("/", 1)[1] for line in finished} >= {
        "Register",
        "Login",
        "GetMe",
    }
    assert all(len(line["trace_id"]) == 32 and len(line["span_id"]) == 16 for line in finished)
    assert format(server.context.trace_id, "032x") in {line["trace_id"] for line in finished}
    text = captured.text
    assert PASSWORD not in text
    assert session_id not in text


@pytest.fixture
def started_spans(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every span the SDK is asked to start from now on: its name and trace id."""
    started: list[tuple[str, int]] = []
    start_span = sdk_trace.Tracer.start_span

    def recording(tracer: sdk_trace.Tracer, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        span = start_span(tracer, name, *args, **kwargs)
        started.append((name, span.get_span_context().trace_id))
        return span

    monkeypatch.setattr(sdk_trace.Tracer, "start_span", recording)
    return started


async def test_a_sampled_out_call_starts_its_server_span_and_nothing_beneath(
    traced: Traced, started_spans: list[tuple[str, int]]
) -> None:
    email = unique_email()
    user = await register(traced.stub, email)
    _, session_id = await login(traced.stub, email)
    metadata = session_metadata(session_id)

    with captured_logs() as captured:
        for flags, trace_id in (("00", TRACE_ID), ("01", SAMPLED_TRACE_ID)):
            traceparent = ("traceparent", f"00-{trace_id}-{PARENT_ID}-{flags}")
            await traced.stub.GetMe(pb.GetMeRequest(), metadata=(*metadata, traceparent))
            await traced.stub.FindByID(
                pb.FindByIDRequest(uuid=user.uuid), metadata=(*metadata, traceparent)
            )

    def names(trace_id: str) -> list[str]:
        return [name for name, started in started_spans if started == int(trace_id, 16)]

    assert names(TRACE_ID) == [f"{SERVICE}/GetMe", f"{SERVICE}/FindByID"]
    assert {"SessionUseCase.authenticate", "UserUseCase.find_by_id", "EVALSHA"} <= set(
        names(SAMPLED_TRACE_ID)
    )
    assert TRACE_ID in {line.get("trace_id") for line in captured.events("rpc finished")}
