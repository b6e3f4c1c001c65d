"""OpenTelemetry set-up: the process's tracer and meter providers, from settings and ``OTEL_*``.

OpenTelemetry allows one global tracer provider and one global meter provider
per process, and the :func:`~app.observability.tracing.traced` decorator and
the library instrumentations all use the global one. So the providers are
installed once, the first time an application asks for them, and each
application then plugs its own span processor into the process's provider
(and takes it out on shutdown). While no application has tracing on, the
sampler drops every span: the per-call cost is a non-recording span.

With tracing off in configuration nothing here runs at all: no provider, no
exporter, no instrumentation; the OpenTelemetry API stays a no-op.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.observability import MetricGroup, OTelConfig, get_observability_instance

from app.config import TracingSettings

_TRUE = frozenset({"true", "1", "yes", "on"})
_T = TypeVar("_T")


@dataclass(frozen=True)
class TracingConfig:
    """Tracing as configured: settings first, then the standard ``OTEL_*`` variables."""

    enabled: bool
    endpoint: str
    insecure: bool
    service_name: str
    sampler_ratio: float


def tracing_config(
    settings: TracingSettings, environ: Mapping[str, str] = os.environ
) -> TracingConfig:
    """Apply the standard variables over ``settings``.

    ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` switch tracing
    off, ``OTEL_TRACES_EXPORTER=otlp`` on; ``OTEL_SERVICE_NAME``,
    ``OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT``, ``OTEL_EXPORTER_OTLP[_TRACES]_INSECURE``
    and ``OTEL_TRACES_SAMPLER_ARG`` (with a ratio-based ``OTEL_TRACES_SAMPLER``)
    replace the matching setting; ``always_on``/``always_off`` samplers mean 1 and 0.
    """
    enabled = settings.enabled
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        enabled = False
    elif exporter == "otlp":
        enabled = True
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        enabled = False
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT", settings.endpoint
    )
    insecure_variable = environ.get("OTEL_EXPORTER_OTLP_TRACES_INSECURE") or environ.get(
        "OTEL_EXPORTER_OTLP_INSECURE"
    )
    insecure = settings.insecure if insecure_variable is None else insecure_variable in _TRUE
    return TracingConfig(
        enabled=enabled,
        endpoint=endpoint,
        insecure=insecure,
        service_name=environ.get("OTEL_SERVICE_NAME") or settings.service_name,
        sampler_ratio=_sampler_ratio(settings.sampler_ratio, environ),
    )


def _sampler_ratio(default: float, environ: Mapping[str, str]) -> float:
    sampler = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler in {"always_on", "parentbased_always_on"}:
        return 1.0
    if sampler in {"always_off", "parentbased_always_off"}:
        return 0.0
    if sampler in {"traceidratio", "parentbased_traceidratio"}:
        try:
            return min(1.0, max(0.0, float(environ.get("OTEL_TRACES_SAMPLER_ARG", default))))
        except ValueError:
            return default
    return default


class _ProcessorFanout(SpanProcessor):
    """The provider's one span processor: hands each span to every application's."""

    def __init__(self) -> None:
        self._processors: tuple[SpanProcessor, ...] = ()
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self._processors)

    def add(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._processors = (*self._processors, processor)

    def remove(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._processors = tuple(p for p in self._processors if p is not processor)

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        for processor in self._processors:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for processor in self._processors:
            processor.on_end(span)

    def shutdown(self) -> None:
        for processor in self._processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self._processors)


class _SwitchableSampler(Sampler):
    """Parent-based ratio sampling while an application traces; drops everything otherwise."""

    def __init__(self, fanout: _ProcessorFanout) -> None:
        self._fanout = fanout
        self._delegate: Sampler = ParentBased(TraceIdRatioBased(1.0))

    def set_ratio(self, ratio: float) -> None:
        self._delegate = ParentBased(TraceIdRatioBased(ratio))

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if not self._fanout.active:
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"Switchable({self._delegate.get_description()})"


class _ProcessTelemetry:
    """What OpenTelemetry lets a process have once: providers and instrumentations."""

    def __init__(self) -> None:
        self.fanout = _ProcessorFanout()
        self.sampler = _SwitchableSampler(self.fanout)
        self.tracing_installed = False
        self.otel_metrics: CollectorRegistry | None = None
        self._lock = threading.Lock()

    def install_tracing(self, service_name: str) -> None:
        with self._lock:
            if self.tracing_installed:
                return
            provider = TracerProvider(
                sampler=self.sampler, resource=Resource.create({SERVICE_NAME: service_name})
            )
            provider.add_span_processor(self.fanout)
            trace.set_tracer_provider(provider)
            # SQL text only ($1 placeholders), never the parameter values.
            AsyncPGInstrumentor(capture_parameters=False).instrument()  # type: ignore[no-untyped-call]
            self.tracing_installed = True

    def install_metrics(self, service_name: str) -> CollectorRegistry:
        """The registry that renders OpenTelemetry metrics (redis-py's) for Prometheus."""
        with self._lock:
            if self.otel_metrics is None:
                registry = CollectorRegistry(auto_describe=False)
                reader = PrometheusMetricReader(scope_info_enabled=False, registry=registry)
                metrics.set_meter_provider(
                    MeterProvider(
                        metric_readers=[reader],
                        resource=Resource.create({SERVICE_NAME: service_name}),
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

# The one place that holds process-wide state, because OpenTelemetry's globals are.
_process = _ProcessTelemetry()


def otel_metrics_registry(service_name: str) -> CollectorRegistry:
    """Install the global meter provider and redis-py's metrics (once); their registry."""
    return _process.install_metrics(service_name)


class Tracing:
    """One application's tracing: its span processor on the process's provider."""

    def __init__(self, config: TracingConfig, exporter: SpanExporter | None = None) -> None:
        self.config = config
        _process.install_tracing(config.service_name)
        _process.sampler.set_ratio(config.sampler_ratio)
        self._processor = BatchSpanProcessor(
            exporter or OTLPSpanExporter(endpoint=config.endpoint, insecure=config.insecure)
        )
        _process.fanout.add(self._processor)

    @staticmethod
    def instrument_redis(client: Redis) -> None:
        """Add a client span per Redis command (arguments replaced by ``?``)."""
        RedisInstrumentor.instrument_client(client)

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        return self._processor.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Export what is buffered and stop sending this application's spans."""
        _process.fanout.remove(self._processor)
        self._processor.shutdown()  # type: ignore[no-untyped-call]


def start_tracing(
    settings: TracingSettings, exporter: SpanExporter | None = None
) -> Tracing | None:
    """Tracing for one application, or None when configuration switches it off.

    ``exporter`` replaces the OTLP exporter (tests pass an in-memory one); it
    does not switch tracing on by itself.
    """
    config = tracing_config(settings)
    return Tracing(config, exporter) if config.enabled else None


def untraced(probe: Callable[[], Awaitable[_T]]) -> Callable[[], Awaitable[_T]]:
    """``probe`` with the SQL and Redis instrumentations silenced while it runs.

    Health probes run every few seconds; as root spans they would bury the
    traces of real requests.
    """

    async def run() -> _T:
        with suppress_instrumentation():
            return await probe()

    return run
