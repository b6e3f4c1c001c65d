"""Where spans go: the exporters the OpenTelemetry SDK chooses from ``OTEL_*``, and the
service's additions (settings that switch tracing on, the console without a collector).

The exporters are chosen as the SDK's configurator chooses them:
``OTEL_TRACES_EXPORTER`` names entry points of the ``opentelemetry_traces_exporter``
group (``otlp`` the one of ``OTEL_EXPORTER_OTLP_PROTOCOL``), read through the
standard library's public entry-point API. Each exporter reads its own endpoint,
headers and timeout (``OTEL_EXPORTER_OTLP_*``). Every
exporter is wrapped in a :class:`QuietExporter`, so a collector that does not
answer costs one warning instead of a line per retry.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from urllib.parse import urlsplit

import structlog
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from app.config import TracingSettings
from app.observability.setup.trace_console import TraceConsole

logger = structlog.get_logger(__name__)

_TRUE = frozenset({"true", "1", "yes", "on"})

#: The SDK's default OTLP/gRPC endpoint (Jaeger's and the collector's receiver).
DEFAULT_OTLP_ENDPOINT = "http://localhost:4317"
#: How long the start-up check waits for a collector to accept a connection.
COLLECTOR_PROBE_SECONDS = 0.3
#: The entry-point group under which the SDK's packages register their span exporters.
EXPORTER_GROUP = "opentelemetry_traces_exporter"
#: The OTLP protocols of the specification, and the exporter each is; gRPC is the SDK's default.
OTLP_EXPORTERS = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}


class TracingConfigError(Exception):
    """An ``OTEL_*`` variable names an exporter or protocol that is not installed."""


@dataclass(frozen=True)
class TracingPlan:
    """Where spans go, decided from the settings and the standard variables.

    ``exporters`` are the SDK's entry-point names (``otlp_proto_grpc``,
    ``console``); empty when tracing is off. ``reason`` says why, for the
    start-up line.
    """

    exporters: tuple[str, ...]
    reason: str

    @property
    def enabled(self) -> bool:
        return bool(self.exporters)


def otlp_endpoint() -> str:
    """The OTLP traces endpoint the SDK's exporter will use."""
    return (
        os.environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
        or os.environ.get(OTEL_EXPORTER_OTLP_ENDPOINT)
        or DEFAULT_OTLP_ENDPOINT
    )


def collector_answers(endpoint: str, timeout: float = COLLECTOR_PROBE_SECONDS) -> bool:
    """Whether something accepts connections at ``endpoint`` (``http://host:port``)."""
    parts = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}")
    try:
        with socket.create_connection((parts.hostname or "localhost", parts.port or 4317), timeout):
            return True
    except (OSError, ValueError):
        return False


def tracing_plan(settings: TracingSettings) -> TracingPlan:
    """Decide where spans go; the standard variables win over the settings.

    ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` switch tracing
    off; any other ``OTEL_TRACES_EXPORTER`` switches it on with those
    exporters. Without the variable, ``tracing.enabled`` exports over OTLP, or
    to the console when ``tracing.console_without_collector`` is set and no
    collector answers.
    """
    if _sdk_disabled():
        return TracingPlan((), f"{OTEL_SDK_DISABLED}=true")
    chosen = os.environ.get(OTEL_TRACES_EXPORTER, "").strip()
    if chosen:
        return TracingPlan(_named_exporters(chosen), f"{OTEL_TRACES_EXPORTER}={chosen}")
    if not settings.enabled:
        return TracingPlan((), "APP_TRACING__ENABLED=false")
    otlp = _exporter_name("otlp")
    if settings.console_without_collector and not collector_answers(otlp_endpoint()):
        return TracingPlan(("console",), f"no collector answers at {otlp_endpoint()}")
    return TracingPlan((otlp,), "APP_TRACING__ENABLED=true")


def check_trace_export(settings: TracingSettings) -> None:
    """Raise :class:`TracingConfigError` now, before anything starts, when the
    exporters tracing would use (``OTEL_TRACES_EXPORTER``, or OTLP by its protocol
    variables when ``tracing.enabled``) are not installed; asks no collector."""
    if _sdk_disabled():
        return
    chosen = os.environ.get(OTEL_TRACES_EXPORTER, "").strip()
    if chosen:
        names = _named_exporters(chosen)
    elif settings.enabled:
        names = (_exporter_name("otlp"),)
    else:
        return  # tracing off: no exporter is used, whatever the OTLP variables say
    for name in names:
        _exporter_class(name)


def _sdk_disabled() -> bool:
    """Whether ``OTEL_SDK_DISABLED`` switches the SDK off."""
    return os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() in _TRUE


def _named_exporters(chosen: str) -> tuple[str, ...]:
    """The entry points an ``OTEL_TRACES_EXPORTER`` value names (none for ``none``)."""
    names = [] if chosen.lower() == "none" else chosen.split(",")
    return tuple(_exporter_name(name.strip()) for name in names)


def _exporter_name(name: str) -> str:
    """The entry point of an ``OTEL_TRACES_EXPORTER`` name: ``otlp`` by its protocol variable."""
    if name != "otlp":
        return name
    protocol = (
        os.environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)
        or os.environ.get(OTEL_EXPORTER_OTLP_PROTOCOL)
        or "grpc"
    ).strip()
    if protocol not in OTLP_EXPORTERS:
        raise TracingConfigError(f"Unsupported OTLP protocol '{protocol}' is configured")
    return OTLP_EXPORTERS[protocol]


def build_exporters(plan: TracingPlan) -> list[SpanExporter]:
    """The SDK's exporters for ``plan``, each built as the SDK builds them (from ``OTEL_*``).

    A ``console`` exporter chosen because no collector answers prints one line
    per span (:class:`TraceConsole`); ``OTEL_TRACES_EXPORTER=console`` is the SDK's JSON block.
    """
    if plan.exporters == ("console",) and not plan.reason.startswith(OTEL_TRACES_EXPORTER):
        return [TraceConsole()]
    return [_exporter_class(name)() for name in plan.exporters]


def _exporter_class(name: str) -> type[SpanExporter]:
    """The span exporter an installed package registers as ``name``, as the SDK finds it."""
    found = entry_points(group=EXPORTER_GROUP, name=name)
    if not found:
        raise TracingConfigError(f"{OTEL_TRACES_EXPORTER}: exporter {name!r} is not installed")
    exporter_class = next(iter(found)).load()
    if not (isinstance(exporter_class, type) and issubclass(exporter_class, SpanExporter)):
        raise TracingConfigError(f"{OTEL_TRACES_EXPORTER}: {name!r} is not a span exporter")
    return exporter_class


class QuietExporter(SpanExporter):
    """An exporter that reports a collector outage once, and bounds its shutdown.

    The first failed export logs one warning (the SDK's exporter would log
    every retry of every batch); a later success logs that export resumed.
    :meth:`shutdown` is idempotent, so it can interrupt an export that retries.
    """

    def __init__(self, exporter: SpanExporter, destination: str) -> None:
        self.inner = exporter
        self._exporter = exporter
        self._destination = destination
        self._failing = False
        self._shut_down = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shut_down:  # an application that stopped, in a process that goes on
            return SpanExportResult.FAILURE
        cause: str | None = None
        try:
            result = self._exporter.export(spans)
        except Exception as err:
            result, cause = SpanExportResult.FAILURE, repr(err)
        if result is SpanExportResult.FAILURE and not self._failing:
            self._failing = True
            logger.warning(
                "traces not exported: the collector does not answer; spans are dropped"
                " until it does",
                destination=self._destination,
                **({} if cause is None else {"error": cause}),
            )
        elif result is SpanExportResult.SUCCESS and self._failing:
            self._failing = False
            logger.info("traces exported again", destination=self._destination)
        return result

    def shutdown(self) -> None:
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)
