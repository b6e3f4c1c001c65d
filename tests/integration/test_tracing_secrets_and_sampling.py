"""What traces leave out: secrets in spans and logs, and the calls sampled out.

Log lines of a traced flow carry its trace id and no secret; a call sampled out
starts its server span (its log lines keep the trace id) and nothing beneath.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk import trace as sdk_trace

from app.grpc.generated import user_service_pb2 as pb
from app.lifecycle import Application
from tests.support.client import PASSWORD, login, register, session_metadata, unique_email
from tests.support.logs import captured_logs
from tests.support.tracing import PARENT_ID, SERVICE, TRACE_ID, Traced, traced_service

SAMPLED_TRACE_ID = "5c0a1e6f4b2d4e8f9a7b3c1d2e4f6a8b"


@pytest.fixture(scope="module")
async def traced(application: Application) -> AsyncIterator[Traced]:
    # ``application`` keeps the run's stores alive until this one has stopped.
    async with traced_service() as service:
        yield service


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
