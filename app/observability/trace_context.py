"""W3C trace context for events: stamped where an event is written, linked where handled.

Only the ``traceparent`` header travels with an event (not baggage): enough for
a consumer's span to link back to the request that caused the event. These
functions use the OpenTelemetry API only, so they cost nothing when no tracer
provider is installed (the captured value is then simply absent).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app.domain.events import Event

_propagator = TraceContextTextMapPropagator()

#: A consumer span's event types, each with its count in the batch: ``user.registered=2``.
EVENT_TYPES_ATTRIBUTE = "app.event.types"


def event_type_counts(events: Sequence[Event]) -> list[str]:
    """``type=count`` for each event type in ``events``, most frequent first."""
    counts = Counter(event.type.value for event in events)
    return [f"{name}={count}" for name, count in counts.most_common()]


def current_traceparent() -> str | None:
    """The active span's ``traceparent``, or None when no span is recording."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def stamped(event: Event) -> Event:
    """``event`` with the active span's ``traceparent``, unless it already has one.

    Called by the adapters that write events as a request makes them (the
    outbox, the session store), so use cases never handle trace context.
    """
    if event.traceparent:
        return event
    return replace(event, traceparent=current_traceparent())


def links_to(traceparents: Iterable[str | None]) -> list[trace.Link]:
    """Span links to each valid ``traceparent`` (invalid or missing ones are skipped)."""
    links = []
    for traceparent in traceparents:
        if not traceparent:
            continue
        context = _propagator.extract({"traceparent": traceparent})
        span_context = trace.get_current_span(context).get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    return links
