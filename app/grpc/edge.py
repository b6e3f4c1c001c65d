"""The edge, composed once: every method's handler wrapped by the layers at start-up.

grpc.aio server interceptors run on every call and build a new method handler
each time, work that can be done once: here each layer wraps each method's
handler once, when the server is built (the first layer is the outermost).
The generated ``add_*_to_server`` functions register
into a :class:`MethodRegistry` standing in for the server; it then hands the
wrapped handlers to the real one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc

from app.grpc.layers import EdgeLayer, Handler


def split_method(method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` → ``("pkg.Service", "Method")``."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service or "unknown", name


def compose(handler: Handler, method: str, layers: Sequence[EdgeLayer]) -> Handler:
    """``handler`` of ``method`` inside ``layers``, the first one outermost."""
    for layer in reversed(layers):
        handler = layer.wrap(handler, method)
    return handler


class MethodRegistry:
    """Collects the method handlers of services added to it, as a server would."""

    def __init__(self) -> None:
        self._services: dict[str, dict[str, Handler]] = {}

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Ignored: generated code registers the same handlers by name as well (below)."""

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, Handler]
    ) -> None:
        self._services[service_name] = dict(method_handlers)

    def wrapped(self, service: str, layers: Sequence[EdgeLayer]) -> dict[str, Handler]:
        """``service``'s handlers by method name, each wrapped once in ``layers``."""
        return {
            name: compose(handler, f"/{service}/{name}", layers)
            for name, handler in self._services[service].items()
        }

    def add_to(self, server: grpc.aio.Server, layers: Sequence[EdgeLayer]) -> None:
        """Register every collected method on ``server``, each wrapped once in ``layers``."""
        for service in self._services:
            wrapped = self.wrapped(service, layers)
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, wrapped),)
            )
            server.add_registered_method_handlers(service, wrapped)
