"""Reading what the service logs: its JSON lines, as a test sees them."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from app.observability.setup.logging import OUTPUT, configure_logging


class LogLines:
    """The JSON lines written since the capture began."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def events(self, event: str) -> list[dict[str, Any]]:
        """The parsed lines whose ``event`` is ``event``, in order."""
        lines = [json.loads(line) for line in self.text.splitlines()]
        return [line for line in lines if line.get("event") == event]


@contextlib.contextmanager
def captured_logs(level: str = "INFO") -> Iterator[LogLines]:
    """Log as the service does (JSON, at ``level``) into memory; the previous set-up is put
    back after."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_stream = OUTPUT.stream
    configure_logging(level, "json", stream=stream)
    try:
        yield LogLines(stream)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        OUTPUT.stream = saved_stream
        configure_logging(logging.getLevelName(saved_level), "json", stream=saved_stream)
        root.handlers[:] = saved_handlers
