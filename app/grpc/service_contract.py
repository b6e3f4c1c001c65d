"""The served gRPC service as its generated descriptor states it: its name and its methods.

Read from the descriptor rather than written out, so a method added to the
proto is known to every reader (the limits, the metrics, the settings' checks,
health and reflection) as soon as the code is generated.
"""

from __future__ import annotations

from app.grpc.generated import user_service_pb2 as pb

SERVICE_DESCRIPTOR = pb.DESCRIPTOR.services_by_name["UserService"]
SERVICE_NAME = SERVICE_DESCRIPTOR.full_name
"""``userService.UserService``: the name health, reflection, spans and metrics use."""
METHOD_NAMES: tuple[str, ...] = tuple(method.name for method in SERVICE_DESCRIPTOR.methods)


def method_path(method_name: str) -> str:
    """``Login`` → ``/userService.UserService/Login``, the path a call names."""
    return f"/{SERVICE_NAME}/{method_name}"
