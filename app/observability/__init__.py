"""What inner layers use of observability: the span decorator, event trace context, metrics.

Use cases and adapters import :func:`~app.observability.tracing.traced`, the
event stamping of :mod:`app.observability.trace_context` and the small
metrics they report to; the process's set-up (providers, exporters, the
registry, logging) is in :mod:`app.observability.setup`, which only the
composition root, the lifecycle and the entry points import.
"""
