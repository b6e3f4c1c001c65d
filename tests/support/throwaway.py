"""Throwaway Redis and PostgreSQL servers for outage tests: killed, frozen, restarted at will.

Each server runs from the machine's binaries on a free loopback port, with
its data in a temporary directory, in a session of its own; killing or
freezing (SIGSTOP) it reaches it and every process it forked (PostgreSQL's
backends too) and nothing else. The shared servers on 5432 and 6379 are never
touched. Use them as async context managers: leaving the block thaws and
kills the server and removes its directory, even when the test failed, and a
finaliser does the same if the interpreter exits first.

Hand-written because it is a thin layer over ``subprocess`` and the servers'
own tools (``initdb``, ``pg_isready``); the Python packages that run servers
for tests start them once and cannot freeze or restart them on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.support.ports import free_port

START_TIMEOUT_SECONDS = 30.0


def _postgres_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"no {name} binary (Debian: apt-get install postgresql)")
    return found


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


class ThrowawayRedis(ThrowawayServer):
    """``redis-server`` without persistence: a kill loses its data, a freeze keeps it."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> subprocess.Popen[bytes]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no redis-server binary (Debian: apt-get install redis-server)")
        log = (self.directory / "redis.log").open("ab")
        return subprocess.Popen(
            [
                binary,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "no",
                "--protected-mode", "no",
                "--logfile", "",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False


class ThrowawayPostgres(ThrowawayServer):
    """A private PostgreSQL cluster (``initdb`` once), fsync off: fast, durable enough.

    A kill is a crash; the restart replays the WAL (written to the OS's cache
    at each commit, so nothing committed is lost). As root, the server runs as the
    ``postgres`` user, which PostgreSQL requires.
    """

    name = "postgres"

    def __init__(self) -> None:
        super().__init__()
        self._user = _server_user()
        self._initialised = False

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run_as_server(self, command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        # setpriv switches user and then execs the server (same pid). Popen's
        # own user= would make Python fork without exec in a process with
        # gRPC's threads, and the child sometimes crashed before running.
        if self._user is not None:
            command = [
                "setpriv",
                f"--reuid={self._user.pw_uid}",
                f"--regid={self._user.pw_gid}",
                "--clear-groups",
                "--",
                *command,
            ]
        return subprocess.Popen(command, **options)

    def _initdb(self) -> None:
        if self._user is not None:
            os.chown(self.directory, self._user.pw_uid, self._user.pw_gid)
        initdb = self._run_as_server(
            [
                _postgres_binary("initdb"),
                "-D", str(self.data),
                "-U", "postgres",
                "--auth=trust",
                "-E", "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if initdb.wait(timeout=120) != 0:
            raise RuntimeError("initdb failed for the throwaway PostgreSQL")
        self._initialised = True

    def _spawn(self) -> subprocess.Popen[bytes]:
        if not self._initialised:
            self._initdb()
        log = (self.directory / "postgres.log").open("ab")
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.data),
            # Only the kernel's cache is skipped: a killed server keeps what it
            # committed (the OS itself never crashes here). synchronous_commit
            # stays on: off, a kill loses the last commits, acknowledged or not.
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "16MB",
            "max_connections": "60",
        }
        options = [part for name, value in settings.items() for part in ("-c", f"{name}={value}")]
        return self._run_as_server(
            [_postgres_binary("postgres"), "-D", str(self.data), *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _answers(self) -> bool:
        ready = subprocess.run(
            [_postgres_binary("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
            timeout=10,
        )
        return ready.returncode == 0


def _server_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as when we are root (it refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return pwd.getpwnam("nobody")
