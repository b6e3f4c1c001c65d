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
from typing import Any, Literal, TextIO, cast

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

SECRET_KEYS = frozenset(
    {"password", "password_hash", "hash", "session_id", "session", "authorization", "token"}
)
REDACTED = "[redacted]"
# Libraries that report their own set-up at INFO ("Observability initialized"…).
# yoyo logs four lines per migration (sixty on a new database); the service's
# "migrations applied" line counts them.
QUIET_LOGGERS = ("redis.observability", "yoyo")


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


class LineOutput:
    """Where the service's own log lines go: the stream last given to :func:`configure_logging`.

    One object for every structlog logger, so a logger cached before a later
    ``configure_logging`` (tests capture into memory) writes to the new stream.
    """

    def __init__(self) -> None:
        self.stream: Any = sys.stdout

    def write(self, text: str) -> None:
        self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


OUTPUT = LineOutput()


class NamedWriteLogger(structlog.WriteLogger):
    """structlog's line logger, with the name ``add_logger_name`` reads.

    ``WriteLogger`` writes each line and its newline in one write (``print``
    would make two with unbuffered output, as in the image), so worker
    processes sharing stdout never interleave their lines.
    """

    def __init__(self, name: str) -> None:
        super().__init__(cast(TextIO, OUTPUT))  # write and flush are all it calls
        self.name = name


def named_write_logger(*names: Any) -> NamedWriteLogger:
    return NamedWriteLogger(str(names[0]) if names else "")


def configure_logging(
    level: str = "INFO", log_format: Literal["json", "console"] = "json", stream: Any = None
) -> None:
    """Configure structlog and the standard library to write one format to ``stream``.

    The service's own lines go through structlog's line logger, not the
    standard library (whose records, locks and formatter cost more per line
    than rendering it); a call below ``level`` is a no-op that renders
    nothing. Library loggers (asyncpg, grpc, yoyo) go through the standard
    library's handler with the same processors and format.
    """
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors = shared_processors()
    OUTPUT.stream = stream or sys.stdout
    structlog.configure(
        processors=[*processors, structlog.processors.format_exc_info, renderer],
        logger_factory=named_write_logger,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # Not cached, so a later configure_logging (another level or stream)
        # reaches loggers made before it; binding per call is small beside
        # rendering the line.
        cache_logger_on_first_use=False,
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
