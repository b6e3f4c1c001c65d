"""Tracing configuration from settings and the standard OTEL_* variables; gRPC code names."""

from __future__ import annotations

import grpc
import pytest

from app.config import TracingSettings
from app.grpc.telemetry_interceptors import go_code_name, split_method
from app.observability.otel import tracing_config


def test_settings_alone_decide_when_no_variable_is_set() -> None:
    config = tracing_config(TracingSettings(enabled=True, sampler_ratio=0.5), environ={})
    assert config.enabled
    assert config.endpoint == "http://127.0.0.1:4317"
    assert config.service_name == "user-service"
    assert config.sampler_ratio == 0.5


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({"OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_standard_variables_switch_tracing(environ: dict[str, str], enabled: bool) -> None:
    settings = TracingSettings(enabled=not enabled)
    assert tracing_config(settings, environ=environ).enabled is enabled


def test_standard_variables_replace_endpoint_name_and_ratio() -> None:
    config = tracing_config(
        TracingSettings(),
        environ={
            "OTEL_SERVICE_NAME": "users-canary",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4317",
            "OTEL_EXPORTER_OTLP_INSECURE": "false",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
        },
    )
    assert config.service_name == "users-canary"
    assert config.endpoint == "http://jaeger:4317"
    assert config.insecure is False
    assert config.sampler_ratio == 0.25


def test_an_unreadable_sampler_argument_keeps_the_configured_ratio() -> None:
    environ = {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "lots"}
    assert tracing_config(TracingSettings(sampler_ratio=0.1), environ=environ).sampler_ratio == 0.1


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
