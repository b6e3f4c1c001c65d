"""The process side of every throwaway server: start, kill, freeze, thaw, clean up.

``ThrowawayServer`` owns one server process on a fixed free port with its own
temporary directory; the servers themselves (Redis, PostgreSQL) are in
``tests/support/throwaway.py``. Signals reach the server and every process it
forked (PostgreSQL's backends too) and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.ports import free_port

START_TIMEOUT_SECONDS = 30.0


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from ``/proc``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name (2nd field) is in parentheses and may hold spaces.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _signal_group(process: subprocess.Popen[bytes] | None, signum: int) -> None:
    """Signal the server and every process it forked.

    PostgreSQL's backends each call ``setsid()``, so the process group alone
    would miss them: the leader is signalled first (stopped, it forks no
    more), then its children.
    """
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
    for child in _children(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    """Kill the server and its children at once; wait until all are gone.

    Everything is stopped first, so the children are still the leader's when
    they are listed (a dead leader's children move to init and would be
    missed), and none exits on its own in between. A PostgreSQL backend still
    alive keeps the old shared memory attached, and a new postmaster on the
    same data directory would refuse to start.
    """
    if process is None or process.poll() is not None:
        return
    _signal_group(process, signal.SIGSTOP)
    children = _children(process.pid)
    for pid in (process.pid, *children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    give_up = time.monotonic() + 10
    while any(_alive(child) for child in children) and time.monotonic() < give_up:
        time.sleep(0.005)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] != "Z"


class ThrowawayServer:
    """A server process on a fixed free port, with its own temporary directory."""

    name = "server"

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix=f"throwaway-{self.name}-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.frozen = False
        self._finalizer = weakref.finalize(self, _cleanup, [None], self.directory)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def start(self) -> None:
        """Start the server (on the same port as before) and wait until it answers."""
        self._process = await asyncio.to_thread(self._spawn)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup, [self._process], self.directory)
        self.frozen = False
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not await asyncio.to_thread(self._answers):
            if not self.running or time.monotonic() > deadline:
                status = self._process.poll()
                raise RuntimeError(
                    f"throwaway {self.name} did not start (exit status {status}): "
                    + self._log_tail()
                )
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL every process of the server: a crash, nothing flushed or said goodbye."""
        _stop(self._process)
        self.frozen = False

    def freeze(self) -> None:
        """SIGSTOP every process: connections stay open, nothing answers."""
        _signal_group(self._process, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        """SIGCONT: the server carries on where it stopped."""
        _signal_group(self._process, signal.SIGCONT)
        self.frozen = False

    async def restart(self) -> None:
        """Kill the server and start it again on the same port and data."""
        self.kill()
        await self.start()

    async def ensure_serving(self) -> None:
        """Undo whatever a test did: thaw a frozen server, start a killed one."""
        if self.frozen:
            self.thaw()
        if not self.running:
            await self.start()

    def close(self) -> None:
        self._finalizer()

    def _log_tail(self) -> str:
        logs = sorted(self.directory.glob("*.log"))
        return logs[0].read_text(errors="replace")[-2000:] if logs else "(no log)"

    def _spawn(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def _answers(self) -> bool:
        raise NotImplementedError


def _cleanup(processes: list[subprocess.Popen[bytes] | None], directory: Path) -> None:
    for process in processes:
        _stop(process)
    shutil.rmtree(directory, ignore_errors=True)
