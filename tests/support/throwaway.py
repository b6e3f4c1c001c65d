"""Throwaway Redis and PostgreSQL servers for outage tests: killed, frozen, restarted at will.

Each server runs from the machine's binaries on a free loopback port, with
its data in a temporary directory, in a session of its own; killing or
freezing (SIGSTOP) it reaches it and every process it forked (PostgreSQL's
backends too) and nothing else. The shared servers on 5432 and 6379 are never
touched. Use them as async context managers: leaving the block thaws and
kills the server and removes its directory, even when the test failed, and a
finaliser does the same if the interpreter exits first.

The process handling they share (start, kill, freeze, thaw, clean-up) is
``ThrowawayServer`` in ``tests/support/throwaway_server.py``.

Hand-written because it is a thin layer over ``subprocess`` and the servers'
own tools (``initdb``, ``pg_isready``); the Python packages that run servers
for tests start them once and cannot freeze or restart them on the same port.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from tests.support.throwaway_server import ThrowawayServer


def _postgres_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"no {name} binary (Debian: apt-get install postgresql)")
    return found


class ThrowawayRedis(ThrowawayServer):
    """``redis-server`` without persistence: a kill loses its data, a freeze keeps it."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _options(self) -> list[str]:
        """The server's command-line options (a cluster node adds its own)."""
        return [
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--logfile", "",
        ]  # fmt: skip

    def _spawn(self) -> subprocess.Popen[bytes]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no redis-server binary (Debian: apt-get install redis-server)")
        log = (self.directory / "redis.log").open("ab")
        return subprocess.Popen(
            [binary, *self._options()],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

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
