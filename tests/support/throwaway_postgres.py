"""A PostgreSQL server of a test's own, on a free loopback port, that it may freeze.

Fault tests must never stop or pause the shared server: they start this one
(``initdb`` + ``postgres`` from ``/usr/lib/postgresql/*/bin``) in a temporary
directory, freeze it with SIGSTOP sent to the postmaster and every child
(each backend calls setsid, so one process group does not hold them), so
open connections hang as on a dead network,
thaw it with SIGCONT, and remove it at the end.
"""

from __future__ import annotations

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
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_SECONDS = 30


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no postgres binaries: CI must provide them")
        pytest.skip("no postgres binaries (Debian: apt-get install postgresql)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThrowawayPostgres:
    """One server; ``dsn`` points at database ``user_service`` on it (created on demand)."""

    def __init__(self, workdir: Path) -> None:
        self._bin = _binaries()
        self._workdir = workdir
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        # postgres refuses to run as root: run it as the postgres user then.
        self._user = "postgres" if os.geteuid() == 0 else None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/user_service"

    def start(self) -> None:
        data = self._workdir / "data"
        if self._user is not None:
            account = pwd.getpwnam(self._user)
            os.chown(self._workdir, account.pw_uid, account.pw_gid)
        subprocess.run(
            [str(self._bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
            user=self._user,
            timeout=STARTUP_SECONDS,
        )
        self._process = subprocess.Popen(
            [
                str(self._bin / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self._workdir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self._workdir / "postgres.log").open("wb"),
            user=self._user,
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while subprocess.run(
            [str(self._bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
        ).returncode:
            assert self._process.poll() is None, "postgres exited; see postgres.log"
            assert time.monotonic() < deadline, "postgres did not start"
            time.sleep(0.1)

    def _processes(self) -> list[int]:
        """The postmaster first, then its children (from /proc)."""
        assert self._process is not None
        postmaster = self._process.pid
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # The fields after the command name, whose ")" ends it: state, ppid, …
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:
                    children.append(int(stat.parent.name))
        return [postmaster, *children]

    def _signal(self, signum: int) -> None:
        for pid in self._processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.thaw()
            self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self._process.wait()


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    workdir = Path(tempfile.mkdtemp(prefix="throwaway-postgres-"))
    server = ThrowawayPostgres(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
