"""The service's log lines reach their stream whole: one write per line."""

from __future__ import annotations

import json

import structlog

from app.observability.setup.logging import configure_logging
from tests.support.logs import captured_logs


class RecordingStream:
    """A stream that keeps every write apart, as an unbuffered stdout would."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_each_line_and_its_newline_go_out_in_one_write() -> None:
    stream = RecordingStream()
    with captured_logs():  # puts the suite's logging back afterwards
        configure_logging("INFO", "json", stream=stream)
        logger = structlog.get_logger("app.test")
        logger.info("first", worker=0)
        logger.warning("second", worker=1)

    assert len(stream.writes) == 2
    assert all(write.endswith("\n") and write.count("\n") == 1 for write in stream.writes)
    assert [json.loads(write)["event"] for write in stream.writes] == ["first", "second"]
