"""One application's tracing: what the settings and the ``OTEL_*`` variables decide.

The OpenTelemetry SDK reads the standard ``OTEL_*`` variables itself: the
exporters (``OTEL_TRACES_EXPORTER``: ``otlp``, ``console``…, chosen through the
SDK configurator's own entry points), the sampler (``OTEL_TRACES_SAMPLER`` and
``_ARG``), the OTLP endpoint, protocol, headers and timeout
(``OTEL_EXPORTER_OTLP_*``), the batch processor (``OTEL_BSP_*``) and the
resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``). The service adds
only: settings that switch tracing on without any variable
(``tracing.enabled``, exporting over OTLP), its default service name, and, for
local use, spans on the console when no collector answers
(``tracing.console_without_collector``); :func:`~app.observability.setup.trace_export.tracing_plan`
reads them. A collector that stops answering costs one warning, and shutting
down waits for it at most :data:`EXPORT_SHUTDOWN_SECONDS`.

Each application adds its span processors to the process's one tracer
provider (:mod:`app.observability.setup.providers`). With tracing off nothing here runs:
no provider, no exporter, no instrumentation; the OpenTelemetry API stays a
no-op.
"""

from __future__ import annotations

import logging
import threading

import structlog
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.config import TracingSettings
from app.observability.setup.providers import tracer_provider
from app.observability.setup.trace_console import TraceConsole
from app.observability.setup.trace_export import (
    QuietExporter,
    TracingPlan,
    build_exporters,
    otlp_endpoint,
    tracing_plan,
)

logger = structlog.get_logger(__name__)

#: How long shutting down waits for an export still in progress (a slow or absent collector).
EXPORT_SHUTDOWN_SECONDS = 0.25
# The OTLP exporters log every retry and every failed batch; QuietExporter says it once.
_SDK_EXPORT_LOGGERS = ("opentelemetry.exporter.otlp.proto.grpc.exporter",)


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
        provider = tracer_provider(settings.service_name)
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
    def instrument_redis(client: Redis | RedisCluster) -> None:
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
