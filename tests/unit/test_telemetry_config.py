"""Where traces go, from settings and the standard OTEL_* variables; gRPC code names."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from app.config import TracingSettings, load_settings
from app.domain.events import Event, EventType
from app.grpc.edge import split_method
from app.grpc.server_metrics import go_code_name
from app.observability.setup.providers import service_resource
from app.observability.setup.trace_console import TraceConsole
from app.observability.setup.trace_export import (
    TracingConfigError,
    build_exporters,
    check_trace_export,
    tracing_plan,
)
from app.observability.trace_context import EVENT_TYPES_ATTRIBUTE, event_type_counts
from tests.support.ports import free_port, silent_listener

LOCAL_CONFIG = Path(__file__).resolve().parents[2] / "config" / "local.yaml"
OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
)


@pytest.fixture(autouse=True)
def no_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def listening_port() -> Iterator[int]:
    with silent_listener() as port:
        yield port


def test_tracing_is_off_by_default_and_says_how_to_switch_it_on() -> None:
    plan = tracing_plan(TracingSettings())
    assert not plan.enabled
    assert plan.reason == "APP_TRACING__ENABLED=false"


def test_the_setting_alone_exports_over_otlp_grpc() -> None:
    plan = tracing_plan(TracingSettings(enabled=True))
    assert plan.exporters == ("otlp_proto_grpc",)


@pytest.mark.parametrize(
    ("variables", "exporters"),
    [
        ({"OTEL_SDK_DISABLED": "true"}, ()),
        ({"OTEL_TRACES_EXPORTER": "none"}, ()),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp_proto_grpc",)),
        ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ("console", "otlp_proto_grpc")),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, ()),
    ],
)
@pytest.mark.parametrize("enabled", [True, False])
def test_standard_variables_win_over_the_setting(
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    exporters: tuple[str, ...],
    enabled: bool,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert tracing_plan(TracingSettings(enabled=enabled)).exporters == exporters


@pytest.mark.parametrize(
    ("protocol", "exporter"), [("grpc", "otlp_proto_grpc"), ("http/protobuf", "otlp_proto_http")]
)
def test_otlp_is_the_exporter_of_its_protocol_variable(
    monkeypatch: pytest.MonkeyPatch, protocol: str, exporter: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    assert tracing_plan(TracingSettings()).exporters == (exporter,)


@pytest.mark.parametrize(
    ("variables", "enabled", "refused"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, False, "exporter 'zipkin' is not installed"),
        ({"OTEL_TRACES_EXPORTER": "console,jaeger"}, True, "exporter 'jaeger' is not installed"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, True, "Unsupported OTLP protocol"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, False, None),  # tracing off
        ({"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_SDK_DISABLED": "true"}, True, None),
        ({"OTEL_TRACES_EXPORTER": "console"}, False, None),
        ({"OTEL_TRACES_EXPORTER": "none"}, True, None),
        ({}, True, None),
    ],
)
def test_exporters_that_are_not_installed_are_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    enabled: bool,
    refused: str | None,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    if refused is None:
        check_trace_export(TracingSettings(enabled=enabled))
    else:
        with pytest.raises(TracingConfigError, match=refused):
            check_trace_export(TracingSettings(enabled=enabled))


def test_the_otlp_exporter_is_found_where_the_sdk_registers_it() -> None:
    [exporter] = build_exporters(tracing_plan(TracingSettings(enabled=True)))
    assert type(exporter) is OTLPSpanExporter
    exporter.shutdown()


def test_the_console_exporter_is_the_sdks_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    [exporter] = build_exporters(tracing_plan(TracingSettings()))
    assert type(exporter) is ConsoleSpanExporter


def test_without_a_collector_the_local_setting_prints_spans_instead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    plan = tracing_plan(TracingSettings(enabled=True, console_without_collector=True))
    assert plan.exporters == ("console",)
    assert plan.reason.startswith("no collector answers at http://127.0.0.1:")
    assert [type(exporter) for exporter in build_exporters(plan)] == [TraceConsole]


def test_a_collector_that_answers_gets_the_spans(
    monkeypatch: pytest.MonkeyPatch, listening_port: int
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{listening_port}")
    plan = tracing_plan(TracingSettings(enabled=True, console_without_collector=True))
    assert plan.exporters == ("otlp_proto_grpc",)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "jaeger"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"},
            "carrier-pigeon",
        ),
    ],
)
def test_an_exporter_that_is_not_installed_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(TracingConfigError, match=named):
        build_exporters(tracing_plan(TracingSettings()))


def test_the_service_name_is_a_default_that_otel_service_name_replaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert service_resource("user-service").attributes["service.name"] == "user-service"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "users-canary")
    assert service_resource("user-service").attributes["service.name"] == "users-canary"


def test_the_console_prints_a_requests_trace_as_a_tree_and_drops_background_traces() -> None:
    out = io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(TraceConsole(out)))
    tracer = provider.get_tracer("test")
    server, client = trace.SpanKind.SERVER, trace.SpanKind.CLIENT
    with (
        tracer.start_as_current_span("OutboxPgRepository.publish_next"),
        tracer.start_as_current_span("SELECT", kind=client),
    ):
        pass
    with (
        tracer.start_as_current_span("userService.UserService/GetMe", kind=server),
        tracer.start_as_current_span("SessionUseCase.authenticate"),
        tracer.start_as_current_span("GETEX", kind=client),
    ):
        pass

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("trace ")
    assert [line.split(" [")[0] for line in lines[1:]] == [
        "userService.UserService/GetMe",
        "  SessionUseCase.authenticate",
        "    GETEX",
    ]
    assert lines[1].endswith(" ms")


def test_the_console_prints_a_consumed_batch_as_one_line_with_its_event_types() -> None:
    out = io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(TraceConsole(out)))
    tracer = provider.get_tracer("test")
    batch = [event_of(EventType.USER_REGISTERED)] * 2 + [event_of(EventType.USER_LOGGED_IN)]
    attributes: dict[str, int | list[str]] = {
        "messaging.batch.message_count": len(batch),
        EVENT_TYPES_ATTRIBUTE: event_type_counts(batch),
    }
    consumer, client = trace.SpanKind.CONSUMER, trace.SpanKind.CLIENT
    with (
        tracer.start_as_current_span("audit-log process", kind=consumer, attributes=attributes),
        tracer.start_as_current_span("INSERT", kind=client),
    ):
        pass

    [line] = out.getvalue().splitlines()
    assert line.startswith("audit-log process [consumer] ")
    assert line.endswith(": 3 event(s) user.registered=2, user.logged_in=1")


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (grpc.StatusCode.OK, "OK"),
        (grpc.StatusCode.CANCELLED, "Canceled"),
        (grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument"),
        (grpc.StatusCode.UNAUTHENTICATED, "Unauthenticated"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "DeadlineExceeded"),
    ],
)
def test_codes_are_spelled_as_go_spells_them(code: grpc.StatusCode, name: str) -> None:
    assert go_code_name(code) == name


def test_a_full_method_splits_into_service_and_method() -> None:
    assert split_method("/userService.UserService/Login") == ("userService.UserService", "Login")


@pytest.mark.parametrize("collector", [True, False])
def test_make_run_traces_to_a_collector_when_one_answers_else_to_the_console(
    monkeypatch: pytest.MonkeyPatch, collector: bool
) -> None:
    monkeypatch.setenv("APP_CONFIG_FILE", str(LOCAL_CONFIG))
    with silent_listener() as port:
        endpoint = f"http://127.0.0.1:{port if collector else free_port()}"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        plan = tracing_plan(load_settings().tracing)
    assert plan.exporters == (("otlp_proto_grpc",) if collector else ("console",))


def event_of(kind: EventType) -> Event:
    return Event(id=uuid.uuid4(), type=kind, occurred_at=datetime.now(UTC), user_id=None)
