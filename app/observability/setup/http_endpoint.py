"""The process's plaintext HTTP port: ``/metrics``, ``/healthz`` and ``/readyz``.

``/healthz`` (liveness) answers 200 while the process can answer at all.
``/readyz`` (readiness) answers 200 while the service is serving, 503 while
a store does not answer (as ``grpc.health.v1`` reports) or once it drains,
each with a small JSON body. With TLS on the gRPC port these are what
Kubernetes' ``httpGet`` probes use (docs/operations.md). The server runs in
threads of its own, so a scrape or probe never waits on the event loop.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
METRICS_PATH = "/metrics"

#: Whether the process is ready for traffic, and a JSON body that says why.
Readiness = Callable[[], tuple[bool, dict[str, object]]]
StartResponse = Callable[..., Any]


def always_ready() -> tuple[bool, dict[str, object]]:
    """The readiness of a process without a health service: ready once it listens."""
    return True, {"status": "serving"}


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes and scrapes every few seconds are not worth a log line each."""


def _json(start_response: StartResponse, status: str, body: dict[str, object]) -> list[bytes]:
    payload = json.dumps(body).encode() + b"\n"
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]


def status_application(
    registry: CollectorRegistry, readiness: Readiness
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application: ``/metrics`` from ``registry``, ``/healthz``, ``/readyz``."""
    metrics = make_wsgi_app(registry)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == LIVENESS_PATH:
            return _json(start_response, "200 OK", {"status": "alive"})
        if path == READINESS_PATH:
            ready, body = readiness()
            status = "200 OK" if ready else "503 Service Unavailable"
            return _json(start_response, status, body)
        if path in (METRICS_PATH, "/"):
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        paths = [METRICS_PATH, LIVENESS_PATH, READINESS_PATH]
        return _json(start_response, "404 Not Found", {"status": "not found", "paths": paths})

    return application


class MetricsEndpoint:
    """``/metrics``, ``/healthz`` and ``/readyz`` over HTTP, served from background threads."""

    def __init__(self, registry: CollectorRegistry, *, host: str, port: int) -> None:
        self.registry = registry
        self.readiness: Readiness = always_ready
        self._host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when configured with port 0); 0 before start."""
        return self._server.server_port if self._server is not None else 0

    def start(self) -> None:
        """Bind and serve; raises ``OSError`` when the address is taken."""
        ipv6 = ":" in self._host
        server = make_server(
            self._host.strip("[]"),
            self._port,
            status_application(self.registry, lambda: self.readiness()),
            server_class=_ThreadingServer6 if ipv6 else _ThreadingServer,
            handler_class=_QuietHandler,
        )
        thread = threading.Thread(target=server.serve_forever, name="http-endpoint", daemon=True)
        thread.start()
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
