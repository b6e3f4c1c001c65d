"""The one table from domain error to gRPC status code."""

from __future__ import annotations

import grpc

from app.domain.errors import (
    DomainError,
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    LastAdmin,
    PermissionDenied,
    SessionNotFound,
    StoreUnavailable,
    Throttled,
    Unauthenticated,
    UserNotFound,
)

STATUS_BY_ERROR: dict[type[DomainError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    EmailTaken: grpc.StatusCode.ALREADY_EXISTS,
    UserNotFound: grpc.StatusCode.NOT_FOUND,
    InvalidCredentials: grpc.StatusCode.UNAUTHENTICATED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    SessionNotFound: grpc.StatusCode.NOT_FOUND,
    LastAdmin: grpc.StatusCode.FAILED_PRECONDITION,
    StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
    Throttled: grpc.StatusCode.RESOURCE_EXHAUSTED,
}

INTERNAL_MESSAGE = "internal error"
# RESOURCE_EXHAUSTED from the edge's own limits (a method at its concurrency limit).
BUSY_MESSAGE = "server busy, try again later"


def status_for(error: DomainError) -> grpc.StatusCode:
    """The status of a domain error, by the nearest type in its hierarchy."""
    for cls in type(error).__mro__:
        code = STATUS_BY_ERROR.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL
