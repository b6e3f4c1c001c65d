"""Spans by name: one decorator opens a span named after the code that runs.

Use cases and repositories are decorated with :func:`traced`; the span is named
after the function's qualified name (``UserUseCase.login``). When no tracer
provider is installed, OpenTelemetry's API hands out non-recording spans, so
the decorator costs one no-op context manager per call. Inside a trace that
is sampled out (nine requests in ten at a 10 % ratio) it opens no span at all:
the child of a sampled-out span is sampled out too, and creating one only to
drop it (a sampler call, new ids, a context switch) is most of what tracing
costs a request.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")

_tracer = trace.get_tracer("app")


def sampled_out() -> bool:
    """Whether the current span belongs to a trace that records nothing here.

    True under a valid span that does not record, i.e. a trace the sampler
    dropped; false with no trace at all, where a new span would be a root that
    the sampler decides on afresh.
    """
    span = trace.get_current_span()
    return not span.is_recording() and span.get_span_context().is_valid


def traced(
    func: Callable[_P, Coroutine[Any, Any, _R]],
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """Run the coroutine function inside a span named ``Class.method``.

    An exception escaping the function is recorded on the span and sets its
    status to ERROR (OpenTelemetry's default for ``start_as_current_span``);
    the exception itself propagates unchanged. Within a sampled-out trace the
    function runs with no span of its own (see :func:`sampled_out`).
    """
    name = func.__qualname__

    @functools.wraps(func)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if sampled_out():
            return await func(*args, **kwargs)
        with _tracer.start_as_current_span(name):
            return await func(*args, **kwargs)

    return wrapper


def untraced(probe: Callable[[], Awaitable[_T]]) -> Callable[[], Awaitable[_T]]:
    """``probe`` with the SQL and Redis instrumentations silenced while it runs.

    Health probes run every few seconds; as root spans they would bury the
    traces of real requests.
    """

    async def run() -> _T:
        with suppress_instrumentation():
            return await probe()

    return run
