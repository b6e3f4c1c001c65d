"""Traces on the console for local use: each request's trace as an indented tree.

Chosen by :mod:`app.observability.setup.trace_export` when ``tracing.console_without_collector``
is set and no OTLP collector answers (``make run`` without Docker).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from app.observability.trace_context import EVENT_TYPES_ATTRIBUTE


class TraceConsole(SpanExporter):
    """Prints each request's or consumed event's trace as an indented tree, one line a span.

    A consumed batch is one line: the consumer span with its event types and
    counts (the stream consumer's event-types attribute), so a busy stream reads as a log of batches
    rather than a tree per event. Spans end children first, so they are held
    until their trace's root ends.
    Traces whose root is neither a SERVER nor a CONSUMER span (the relay's
    polling, every half second) are dropped: on a console they would bury the
    requests. At most :attr:`max_pending` traces wait for their root.
    """

    max_pending = 1000

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._pending: dict[int, list[ReadableSpan]] = {}

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            trace_id = span.context.trace_id if span.context else 0
            self._pending.setdefault(trace_id, []).append(span)
            if span.parent is None or span.parent.is_remote:
                trace_spans = self._pending.pop(trace_id)
                if span.kind is SpanKind.CONSUMER:
                    self._print_batch(span)
                elif span.kind is SpanKind.SERVER:
                    self._print(span, trace_spans)
        while len(self._pending) > self.max_pending:
            self._pending.pop(next(iter(self._pending)))
        return SpanExportResult.SUCCESS

    def _print_batch(self, root: ReadableSpan) -> None:
        attributes = root.attributes or {}
        listed = attributes.get(EVENT_TYPES_ATTRIBUTE, ())
        types = ", ".join(map(str, listed)) if isinstance(listed, Sequence) else ""
        count = attributes.get("messaging.batch.message_count", "?")
        out = self._out or sys.stdout
        out.write(f"{span_line(root)}: {count} event(s) {types}\n")
        out.flush()

    def _print(self, root: ReadableSpan, spans: list[ReadableSpan]) -> None:
        depth = {root.context.span_id if root.context else 0: 0}
        lines = []
        for span in sorted(spans, key=lambda s: s.start_time or 0):
            parent = span.parent.span_id if span.parent else None
            level = depth.get(parent, 0) + 1 if span is not root else 0
            depth[span.context.span_id if span.context else 0] = level
            lines.append(f"{'  ' * level}{span_line(span)}")
        out = self._out or sys.stdout
        out.write(f"trace {format(root.context.trace_id, '032x')}\n" + "\n".join(lines) + "\n")
        out.flush()


def span_line(span: ReadableSpan) -> str:
    """One readable line: name, kind, duration, and the status when it is not OK."""
    duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    status = "" if span.status.is_ok else f" {span.status.status_code.name}"
    return f"{span.name} [{span.kind.name.lower()}] {duration_ms:.2f} ms{status}"
