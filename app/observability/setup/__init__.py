"""Process set-up of observability: providers, exporters, the registry and ``/metrics``, logging.

Only the composition root (``app/bootstrap/``), the lifecycle and the entry
points import this package. What inner layers use (the span decorator, event
trace context, the metrics their ports report to) is in :mod:`app.observability`
itself, so a use case or an adapter never reaches the process's set-up.
"""
