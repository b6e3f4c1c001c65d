"""OpenTelemetry set-up: the process's tracer and meter providers.

The OpenTelemetry SDK reads the standard ``OTEL_*`` variables itself: the
exporters (``OTEL_TRACES_EXPORTER``: ``otlp``, ``console``…, chosen through the
SDK configurator's own entry points), the sampler (``OTEL_TRACES_SAMPLER`` and
``_ARG``), the OTLP endpoint, protocol, headers and timeout
(``OTEL_EXPORTER_OTLP_*``), the batch processor (``OTEL_BSP_*``) and the
resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``). The service adds
only: settings that switch tracing on without any variable
(``tracing.enabled``, exporting over OTLP), its default service name, and, for
local use, spans on the console when no collector answers
(``tracing.console_without_collector``). A collector that stops answering costs
one warning, and shutting down waits for it at most :data:`EXPORT_SHUTDOWN_SECONDS`.

OpenTelemetry allows one global tracer provider and one global meter provider
per process, and the :func:`~app.observability.tracing.traced` decorator and
the library instrumentations all use the global one: it is installed the first
time an application traces, and each application adds its span processors to
it. With tracing off nothing here runs: no provider, no exporter, no
instrumentation; the OpenTelemetry API stays a no-op.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.view import DropAggregation, View
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.observability import MetricGroup, OTelConfig, get_observability_instance

from app.config import TracingSettings
from app.observability.trace_console import TraceConsole
from app.observability.trace_export import (
    QuietExporter,
    TracingPlan,
    build_exporters,
    otlp_endpoint,
    tracing_plan,
)

logger = structlog.get_logger(__name__)

_T = TypeVar("_T")

#: How long shutting down waits for an export still in progress (a slow or absent collector).
EXPORT_SHUTDOWN_SECONDS = 0.25
# The OTLP exporters log every retry and every failed batch; QuietExporter says it once.
_SDK_EXPORT_LOGGERS = ("opentelemetry.exporter.otlp.proto.grpc.exporter",)


def service_resource(service_name: str) -> Resource:
    """The SDK's resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), named
    ``service_name`` unless a variable names it."""
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: service_name}))
    return detected


class _ProcessTelemetry:
    """What OpenTelemetry lets a process have once: providers and instrumentations."""

    def __init__(self) -> None:
        self.tracer_provider: TracerProvider | None = None
        self.otel_metrics: CollectorRegistry | None = None
        self._lock = threading.Lock()

    def install_tracing(self, service_name: str) -> TracerProvider:
        """The process's tracer provider, installed (with the SQL instrumentation) the first time.

        The SDK picks the sampler itself (``OTEL_TRACES_SAMPLER``, ``_ARG``;
        parent-based always-on by default).
        """
        with self._lock:
            if self.tracer_provider is None:
                provider = TracerProvider(resource=service_resource(service_name))
                trace.set_tracer_provider(provider)
                # SQL text only ($1 placeholders), never the parameter values.
                AsyncPGInstrumentor(capture_parameters=False).instrument()  # type: ignore[no-untyped-call]
                self.tracer_provider = provider
            return self.tracer_provider

    def install_metrics(self, service_name: str) -> CollectorRegistry:
        """The registry that renders OpenTelemetry metrics (redis-py's) for Prometheus."""
        with self._lock:
            if self.otel_metrics is None:
                registry = CollectorRegistry(auto_describe=False)
                reader = PrometheusMetricReader(scope_info_enabled=False, registry=registry)
                metrics.set_meter_provider(
                    MeterProvider(
                        metric_readers=[reader],
                        resource=service_resource(service_name),
                        views=_REDIS_METRIC_VIEWS,
                    )
                )
                get_observability_instance().init(OTelConfig(metric_groups=_REDIS_METRIC_GROUPS))
                self.otel_metrics = registry
            return self.otel_metrics


_REDIS_METRIC_GROUPS = [
    MetricGroup.COMMAND,
    MetricGroup.CONNECTION_BASIC,
    MetricGroup.CONNECTION_ADVANCED,
    MetricGroup.RESILIENCY,
]

# redis-py 8.1 keeps its connections-by-state count as an up-down counter that
# a BlockingConnectionPool drives below zero (it was seen at -30,929 "used"):
# dropped, the pools' real usage is exported by RedisWireMetrics instead.
_REDIS_METRIC_VIEWS = [
    View(instrument_name="db.client.connection.count", aggregation=DropAggregation())
]

# The one place that holds process-wide state, because OpenTelemetry's globals are.
_process = _ProcessTelemetry()


def otel_metrics_registry(service_name: str) -> CollectorRegistry:
    """Install the global meter provider and redis-py's metrics (once); their registry."""
    return _process.install_metrics(service_name)


class Tracing:
    """One application's tracing: its span processors on the process's provider.

    A process serves one application, except in tests and benchmarks, which
    build several through the composition root. OpenTelemetry's provider can
    add span processors but not remove them, so a stopped application's
    processors stay on it, shut down: they drop whatever they are handed.
    """

    def __init__(
        self, settings: TracingSettings, plan: TracingPlan, exporter: SpanExporter | None = None
    ) -> None:
        self.plan = plan
        provider = _process.install_tracing(settings.service_name)
        for name in _SDK_EXPORT_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        destination = self.destination
        self._exporters = [
            QuietExporter(inner, destination)
            for inner in ([exporter] if exporter is not None else build_exporters(plan))
        ]
        self._processors = [_processor_for(exporter) for exporter in self._exporters]
        for processor in self._processors:
            provider.add_span_processor(processor)

    @property
    def destination(self) -> str:
        """Where spans go, for the start-up line."""
        return ", ".join(
            f"otlp at {otlp_endpoint()}" if name.startswith("otlp") else name
            for name in self.plan.exporters
        )

    @staticmethod
    def instrument_redis(client: Redis) -> None:
        """Add a client span per Redis command (arguments replaced by ``?``)."""
        RedisInstrumentor.instrument_client(client)

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self._processors)

    def shutdown(self) -> None:
        """Export what is buffered, waiting at most :data:`EXPORT_SHUTDOWN_SECONDS` for it.

        The batch processor waits for its last export, and an OTLP export
        retries for up to its timeout (10 s) while the collector does not
        answer; shutting the exporter down after the budget ends those retries.
        """
        for processor, exporter in zip(self._processors, self._exporters, strict=True):
            deadline = threading.Timer(EXPORT_SHUTDOWN_SECONDS, exporter.shutdown)
            deadline.daemon = True
            deadline.start()
            try:
                processor.shutdown()
            finally:
                deadline.cancel()


def _processor_for(exporter: QuietExporter) -> SpanProcessor:
    """Batches for exporters that send; the console's trees are printed as requests end."""
    if isinstance(exporter.inner, TraceConsole):
        return SimpleSpanProcessor(exporter)
    return BatchSpanProcessor(exporter)


def start_tracing(
    settings: TracingSettings, exporter: SpanExporter | None = None
) -> Tracing | None:
    """Tracing for one application, or None when it is off; logs where spans go.

    ``exporter`` replaces the SDK's exporters (tests pass an in-memory one); it
    does not switch tracing on by itself. Raises :class:`TracingConfigError`
    when an ``OTEL_*`` variable names an exporter that is not installed.
    """
    plan = tracing_plan(settings)
    if not plan.enabled:
        logger.info(
            "tracing off",
            reason=plan.reason,
            how_to_enable="APP_TRACING__ENABLED=true or OTEL_TRACES_EXPORTER=console|otlp",
        )
        return None
    tracing = Tracing(settings, plan, exporter)
    logger.info("tracing on", traces_to=tracing.destination, reason=plan.reason)
    return tracing


def shutdown_process_telemetry() -> None:
    """At the end of a process: stop redis-py's metrics before the meter provider goes.

    Otherwise a Redis connection closed at interpreter exit asks the shut-down
    provider for a meter, and OpenTelemetry warns about it.
    """
    get_observability_instance().shutdown()


def untraced(probe: Callable[[], Awaitable[_T]]) -> Callable[[], Awaitable[_T]]:
    """``probe`` with the SQL and Redis instrumentations silenced while it runs.

    Health probes run every few seconds; as root spans they would bury the
    traces of real requests.
    """

    async def run() -> _T:
        with suppress_instrumentation():
            return await probe()

    return run
