"""The addresses a process will listen on, each with the setting that chooses it.

Before a process migrates or connects to anything, :func:`first_taken` tries
each address, so a second ``make run`` stops at once with one line naming the
address and its setting instead of after the migrations with a traceback.
The servers bind for real later, so another process may still take an
address in between: the entry point then asks :func:`first_taken` again to
name the address in the same one line.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from app.bootstrap.http import http_host
from app.config import Settings


@dataclass(frozen=True)
class Listener:
    """An address a process binds, and the variable that sets its port."""

    host: str
    port: int
    setting: str

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def refusal(self, reason: str = "is already in use") -> str:
        """The one line that says the address cannot be bound and what chooses it."""
        return f"cannot listen on {self.address}: {reason} (set {self.setting} to another port)"


def metrics_listeners(settings: Settings) -> list[Listener]:
    """``/metrics`` (and the HTTP health endpoints), when on and on a fixed port."""
    metrics = settings.metrics
    if not metrics.enabled or metrics.port == 0:
        return []
    return [Listener(settings.metrics_host, metrics.port, "APP_METRICS__PORT")]


def server_listeners(settings: Settings) -> list[Listener]:
    """Every address ``serve`` binds: gRPC, HTTP/JSON, then ``/metrics``."""
    grpc, http = settings.grpc, settings.http
    served = [Listener(grpc.host, grpc.port, "APP_GRPC__PORT")] if grpc.port else []
    if http.enabled and http.port:
        served.append(Listener(http_host(settings), http.port, "APP_HTTP__PORT"))
    return served + metrics_listeners(settings)


def _bind_error(listener: Listener) -> OSError | None:
    """Why ``listener``'s address cannot be bound now (None when it can)."""
    try:
        infos = socket.getaddrinfo(
            listener.host or None,
            listener.port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )
    except socket.gaierror as err:
        return err
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        # As the servers bind: a port left in TIME_WAIT by a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            return err
    return None


def first_taken(listeners: list[Listener]) -> str | None:
    """The one line naming the first address that cannot be bound now, if any."""
    for listener in listeners:
        error = _bind_error(listener)
        if error is None:
            continue
        if error.errno == errno.EADDRINUSE:
            return listener.refusal()
        return listener.refusal(error.strerror or str(error))
    return None
