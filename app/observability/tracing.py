"""Spans by name: one decorator opens a span named after the code that runs.

Use cases and repositories are decorated with :func:`traced`; the span is named
after the function's qualified name (``UserUseCase.login``). When no tracer
provider is installed, OpenTelemetry's API hands out non-recording spans, so
the decorator costs one no-op context manager per call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace

_P = ParamSpec("_P")
_R = TypeVar("_R")

_tracer = trace.get_tracer("app")


def traced(
    func: Callable[_P, Coroutine[Any, Any, _R]],
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """Run the coroutine function inside a span named ``Class.method``.

    An exception escaping the function is recorded on the span and sets its
    status to ERROR (OpenTelemetry's default for ``start_as_current_span``);
    the exception itself propagates unchanged.
    """
    name = func.__qualname__

    @functools.wraps(func)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _tracer.start_as_current_span(name):
            return await func(*args, **kwargs)

    return wrapper
