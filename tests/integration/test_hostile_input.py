"""Hostile input, generated: whatever a client sends, every RPC answers a documented code.

Every RPC of ``userService.UserService`` (read from the service descriptor, so
new ones are covered as they are added) gets hypothesis-made requests through
a real channel to the real service on PostgreSQL and Redis: messages whose
fields hold arbitrary unicode, NUL and control characters, very long values,
SQL and Redis protocol fragments; arbitrary, duplicated and malformed
metadata; and bodies that are random or broken bytes. The code that comes back
must be one the README documents for that RPC (never INTERNAL or UNKNOWN), and
the service must still be serving afterwards.

Hypothesis runs in a worker thread with a blocking gRPC channel, while the
service runs on the test's event loop. The examples are derandomized: each run
tries the same ones, ``HOSTILE_EXAMPLES`` of them in all (default 2,100).
"""

from __future__ import annotations

import asyncio
import math
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from app.bootstrap import build_application
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import RUN_ID, make_settings
from tests.support.client import PASSWORD, register, registered_session, session_metadata
from tests.support.documented_codes import codes_of, codes_of_every_rpc
from tests.support.error_details import reasons_of_call
from tests.support.hostile import Known, bodies, metadata, requests
from tests.support.passwords import cheap_passwords_for

SERVICE = pb.DESCRIPTOR.services_by_name["UserService"]
METHODS = [method.name for method in SERVICE.methods]
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "2100"))
# Two tests per method share the examples.
PER_TEST = math.ceil(EXAMPLES / (2 * len(METHODS)))
CALL_TIMEOUT_SECONDS = 30.0
# PostgreSQL and Redis are up during the run: UNAVAILABLE (documented for
# outages) would mean a request broke a store or its pool.
NOT_HERE = frozenset({grpc.StatusCode.UNAVAILABLE})
GRPC_OWN_REFUSALS = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED})
Metadata = list[tuple[str, str | bytes]]
Case = TypeVar("Case")


class _DiscardingExporter(SpanExporter):
    """Tracing on (its interceptor reads the hostile ``traceparent``), spans thrown away."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


@dataclass
class Target:
    application: Application
    channel: grpc.Channel
    sessions: dict[str, str]  # per method: a live session its examples may present
    witness: str  # a session no example sees, for the after-check
    known: Known  # a user the examples may name

    def call(self, method: str, body: bytes, entries: Metadata) -> grpc.StatusCode:
        """Send ``body`` to ``method`` as it is; the status code that came back."""
        rpc: grpc.UnaryUnaryMultiCallable[bytes, bytes] = self.channel.unary_unary(
            f"/{SERVICE.full_name}/{method}", request_serializer=None, response_deserializer=None
        )
        try:
            rpc(body, metadata=tuple(entries), timeout=CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as err:
            code: grpc.StatusCode = err.code()
            assert isinstance(err, grpc.Call)
            reasons = reasons_of_call(err)
            # gRPC answers an oversized request or metadata itself, before the service runs.
            grpc_own = code in GRPC_OWN_REFUSALS and not reasons
            assert grpc_own or len(reasons) == 1, f"{method}: {code.name} with ErrorInfo {reasons}"
            return code
        return grpc.StatusCode.OK


@pytest.fixture(scope="module")
async def target(application: Application) -> AsyncIterator[Target]:
    """The service with tracing and metrics on and Redis keys of its own.

    Its own key prefix keeps whatever the examples leave in Redis (a throttled
    client address above all) away from the rest of the suite.
    """
    settings = make_settings(
        tracing={"enabled": True},
        metrics={"enabled": True},
        redis={"key_prefix": f"test:{RUN_ID}:hostile:"},
    )
    built = await build_application(
        settings, span_exporter=_DiscardingExporter(), passwords=cheap_passwords_for(settings)
    )
    await built.start()
    address = f"127.0.0.1:{built.port}"
    async with grpc.aio.insecure_channel(address) as setup:
        stub = pb_grpc.UserServiceStub(setup)
        sessions = {method: (await registered_session(stub))[1] for method in METHODS}
        _, witness = await registered_session(stub)
        user = await register(stub)
        await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=user.email))
    token = await built.pool.fetchval(
        "SELECT token FROM mail_outbox WHERE recipient = $1 AND token IS NOT NULL", user.email
    )
    known = Known(email=user.email, password=PASSWORD, user_id=user.uuid, reset_token=token)
    channel = grpc.insecure_channel(address)
    try:
        yield Target(built, channel, sessions, witness, known)
    finally:
        channel.close()
        await built.stop(grace=0.5)


def explore(
    cases: st.SearchStrategy[Case], check: Callable[[Case], grpc.StatusCode], examples: int
) -> Counter[grpc.StatusCode]:
    """Run ``check`` on ``examples`` cases (in this thread); the codes seen, counted."""
    seen: Counter[grpc.StatusCode] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(cases)
    def example(case: Case) -> None:
        seen[check(case)] += 1

    example()
    return seen


def checked(
    target: Target, method: str, allowed: frozenset[grpc.StatusCode]
) -> Callable[[tuple[bytes, Metadata]], grpc.StatusCode]:
    def check(case: tuple[bytes, Metadata]) -> grpc.StatusCode:
        body, entries = case
        code = target.call(method, body, entries)
        assert code in allowed, f"{method} answered {code.name}, not one of its documented codes"
        return code

    return check


async def assert_still_serving(target: Target) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{target.application.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        response = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE.full_name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
        me = await pb_grpc.UserServiceStub(channel).GetMe(
            pb.GetMeRequest(), metadata=session_metadata(target.witness)
        )
        assert me.user.uuid


def allowed_codes(method: str, *, malformed: bool) -> frozenset[grpc.StatusCode]:
    """What ``method`` may answer here: its README row, and of the codes every RPC may
    answer, RESOURCE_EXHAUSTED (size caps, throttling) always and INVALID_ARGUMENT
    only when the body may be malformed. Never INTERNAL or UNKNOWN; never UNAVAILABLE
    while the stores are up."""
    every_rpc = codes_of_every_rpc()
    situational = {grpc.StatusCode.RESOURCE_EXHAUSTED}
    if malformed:
        situational.add(grpc.StatusCode.INVALID_ARGUMENT)
    assert situational <= every_rpc, "README no longer documents these for every RPC"
    codes = codes_of(method) | situational
    return frozenset(codes - {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN} - NOT_HERE)


async def _run(
    target: Target, method: str, cases: st.SearchStrategy[Any], allowed: frozenset[grpc.StatusCode]
) -> Counter[grpc.StatusCode]:
    seen = await asyncio.to_thread(explore, cases, checked(target, method, allowed), PER_TEST)
    assert sum(seen.values()) >= PER_TEST
    await assert_still_serving(target)
    return seen


@pytest.mark.parametrize("method", METHODS)
async def test_any_message_with_any_metadata_gets_a_documented_code(
    target: Target, method: str
) -> None:
    descriptor = SERVICE.methods_by_name[method].input_type
    cases = st.tuples(
        requests(descriptor, target.known).map(lambda message: message.SerializeToString()),
        metadata(target.sessions[method]),
    )
    seen = await _run(target, method, cases, allowed_codes(method, malformed=False))
    # The examples reached past the edge: not everything was refused at the door.
    assert len(seen) > 1, f"{method} answered only {seen}"


@pytest.mark.parametrize("method", METHODS)
async def test_random_and_broken_bytes_get_a_documented_code(target: Target, method: str) -> None:
    descriptor = SERVICE.methods_by_name[method].input_type
    cases = st.tuples(bodies(descriptor), metadata(target.sessions[method]))
    # An undecodable body is INVALID_ARGUMENT "malformed request", for every RPC.
    seen = await _run(target, method, cases, allowed_codes(method, malformed=True))
    assert seen[grpc.StatusCode.INVALID_ARGUMENT] > 0
