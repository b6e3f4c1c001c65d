"""The HTTP port's CORS (configured origins only) and its telemetry: the same span, metrics
and log line as a gRPC call of the same method."""

from __future__ import annotations

import grpc
import httpx
from opentelemetry.trace import SpanKind

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.client import code_of
from tests.support.connect import ConnectClient, method_url
from tests.support.logs import captured_logs
from tests.support.metrics import scrape, value
from tests.support.tracing import PARENT_ID, TRACE_ID, traced_service

ALLOWED = "https://web.example.com"
PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type,connect-protocol-version,authorization",
}


def _client(port: int | None) -> httpx.AsyncClient:
    assert port is not None, "the HTTP port is on"
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)


async def test_a_configured_origin_may_call_from_a_browser_and_others_may_not(make_application):
    application = await make_application(http={"cors_origins": [ALLOWED]})
    async with _client(application.http_port) as client:
        allowed = await client.options(
            method_url("GetMe"), headers={"origin": ALLOWED, **PREFLIGHT}
        )
        refused = await client.options(
            method_url("GetMe"), headers={"origin": "https://evil.example", **PREFLIGHT}
        )
        call = await client.post(method_url("GetMe"), json={}, headers={"origin": ALLOWED})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    allowed_headers = allowed.headers["access-control-allow-headers"].lower()
    assert {"connect-protocol-version", "authorization", "content-type"} <= {
        header.strip() for header in allowed_headers.split(",")
    }
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert call.status_code == 401
    assert call.headers["access-control-allow-origin"] == ALLOWED
    assert "grpc-status-details-bin" in call.headers["access-control-expose-headers"].lower()


async def test_without_configured_origins_no_page_elsewhere_may_call(application):
    async with _client(application.http_port) as client:
        preflight = await client.options(
            method_url("GetMe"), headers={"origin": ALLOWED, **PREFLIGHT}
        )
        call = await client.post(method_url("GetMe"), json={}, headers={"origin": ALLOWED})
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code >= 400
    assert "access-control-allow-origin" not in call.headers


async def test_an_http_call_is_counted_as_a_grpc_call_is(make_application, stub):
    metered = await make_application(metrics={"enabled": True})
    labels = {"grpc_service": "userService.UserService", "grpc_method": "GetMe"}
    refused = {**labels, "grpc_code": "Unauthenticated"}
    assert metered.metrics_port is not None
    before = await scrape(metered.metrics_port)
    async with _client(metered.http_port) as client:
        for _ in range(3):
            await ConnectClient(client).post("GetMe")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{metered.port}") as channel:
        try:
            await pb_grpc.UserServiceStub(channel).GetMe(pb.GetMeRequest())
        except grpc.aio.AioRpcError as error:
            assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    after = await scrape(metered.metrics_port)

    def grown(name: str, **wanted: str) -> float:
        earlier = [s for s in before if s.name == name and wanted.items() <= s.labels.items()]
        return value(after, name, **wanted) - sum(s.value for s in earlier)

    assert grown("connect_server_handled_total", **refused) == 3
    assert grown("connect_server_started_total", **labels) == 3
    assert value(after, "connect_server_handling_seconds_count", **labels) >= 3
    assert grown("grpc_server_handled_total", **refused) == 1


async def test_an_http_call_continues_the_callers_trace_in_the_same_span(stub):
    async with traced_service() as traced, _client(traced.application.http_port) as client:
        traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
        with captured_logs() as logs:
            await ConnectClient(client).post("GetMe", headers={"traceparent": traceparent})
        span = await traced.server_span("GetMe", int(TRACE_ID, 16))
        refused = await code_of(traced.stub.GetMe(pb.GetMeRequest()))
        assert refused is grpc.StatusCode.UNAUTHENTICATED
        grpc_span = await traced.server_span("GetMe")
    assert span.kind is SpanKind.SERVER and span.parent is not None
    assert span.parent.span_id == int(PARENT_ID, 16)
    assert span.attributes is not None and grpc_span.attributes is not None
    assert set(span.attributes) == set(grpc_span.attributes)
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert span.attributes["network.peer.address"] == "127.0.0.1"
    assert (span.attributes["rpc.system"], grpc_span.attributes["rpc.system"]) == (
        "connect_rpc",
        "grpc",
    )
    [finished] = logs.events("rpc finished")
    assert finished["trace_id"] == TRACE_ID and finished["protocol"] == "connect"
