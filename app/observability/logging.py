"""structlog set-up: JSON lines by default, a console renderer for local use.

Every line written while a span is active carries ``trace_id`` and ``span_id``.
Standard-library loggers (asyncpg, grpc, yoyo) go through the same processors,
so the whole process speaks one format. Keys that could hold a secret are
replaced before rendering, as a last line of defence: no code should log them
in the first place.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

SECRET_KEYS = frozenset(
    {"password", "password_hash", "hash", "session_id", "session", "authorization", "token"}
)
REDACTED = "[redacted]"
# Libraries that report their own set-up at INFO ("Observability initialized"…).
QUIET_LOGGERS = ("redis.observability",)


def add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Add the active span's ``trace_id`` and ``span_id`` (hex) when there is one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key in SECRET_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    return event_dict


def shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        redact_secrets,
    ]


def configure_logging(
    level: str = "INFO", log_format: Literal["json", "console"] = "json", stream: Any = None
) -> None:
    """Configure structlog and the standard library to write one format to ``stream``."""
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors = shared_processors()
    structlog.configure(
        processors=[
            *processors,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
