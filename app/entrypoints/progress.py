"""An import's progress: a bar on a terminal (rich), nothing when the output is piped."""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, TaskID


class TerminalProgress(AbstractContextManager["TerminalProgress"]):
    """Satisfies ``ImportProgress``: one bar per stage, drawn on stderr only if it is a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._progress = Progress(console=self._console, disable=not self._console.is_terminal)
        self._task: TaskID | None = None

    def __enter__(self) -> TerminalProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def started(self, what: str, total: int | None) -> None:
        self._task = self._progress.add_task(f"importing {what}", total=total)

    def advanced(self, count: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)
