"""The process's OpenTelemetry providers: what OpenTelemetry lets a process have once.

OpenTelemetry allows one global tracer provider and one global meter provider
per process, and the :func:`~app.observability.tracing.traced` decorator and
the library instrumentations all use the global one: the tracer provider is
installed the first time an application traces (each application then adds
its span processors to it, :mod:`app.observability.setup.application_tracing`), the
meter provider, with redis-py's metrics, the first time one exports metrics.
Their resource is the SDK's (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``)
with the service's default name.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.view import DropAggregation, View
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from redis.observability import MetricGroup, OTelConfig, get_observability_instance

Result = TypeVar("Result")


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
# a BlockingConnectionPool drives below zero, so it is dropped: the pools'
# real usage is exported by RedisWireMetrics, read from the pools themselves.
_REDIS_METRIC_VIEWS = [
    View(instrument_name="db.client.connection.count", aggregation=DropAggregation())
]

# The one place that holds process-wide state, because OpenTelemetry's globals are.
_process = _ProcessTelemetry()


def otel_metrics_registry(service_name: str) -> CollectorRegistry:
    """Install the global meter provider and redis-py's metrics (once); their registry."""
    return _process.install_metrics(service_name)


def tracer_provider(service_name: str) -> TracerProvider:
    """The process's tracer provider, installed (with the SQL instrumentation) the first time."""
    return _process.install_tracing(service_name)


def shutdown_process_telemetry() -> None:
    """At the end of a process: stop redis-py's metrics before the meter provider goes.

    Otherwise a Redis connection closed at interpreter exit asks the shut-down
    provider for a meter, and OpenTelemetry warns about it.
    """
    get_observability_instance().shutdown()


def run_then_stop_telemetry(work: Coroutine[Any, Any, Result]) -> Result:
    """``asyncio.run(work)``, then :func:`shutdown_process_telemetry`: a one-shot
    command's whole life (``admin``, ``import``), in the order that keeps exit quiet."""
    try:
        return asyncio.run(work)
    finally:
        shutdown_process_telemetry()
