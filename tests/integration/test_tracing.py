"""Traces through every layer: server span → use case → repository → SQL / Redis spans."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from app.grpc.generated import user_service_pb2 as pb
from app.lifecycle import Application
from tests.support.client import PASSWORD, login, register, session_metadata, unique_email
from tests.support.tracing import PARENT_ID, SERVICE, TRACE_ID, Traced, traced_service

FAILING_TRACE_ID = "6e0c63257de34c92bf9efcd03927272e"


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
    async with traced_service() as service:
        yield service


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
    use_case = child(spans, server, "UserUseCase.login_or_ticket")
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
    use_case = child(traced.trace_of(server), server, "UserUseCase.login_or_ticket")
    assert use_case.status.status_code is StatusCode.ERROR
    assert [event.name for event in use_case.events] == ["exception"]
    exception_type = str((use_case.events[0].attributes or {})["exception.type"])
    assert exception_type.endswith("InvalidCredentials")
