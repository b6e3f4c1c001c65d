"""The one table from domain error to gRPC status: its code and any details.

Most errors become a code and their public message. Some also carry
``google.rpc`` details (the richer error model of grpcio-status): a throttled
or busy refusal tells the client how long to wait in a ``google.rpc.RetryInfo``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from app.domain.errors import (
    DomainError,
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    LastAdmin,
    PermissionDenied,
    RetryLater,
    ServerBusy,
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
    ServerBusy: grpc.StatusCode.RESOURCE_EXHAUSTED,
}

INTERNAL_MESSAGE = "internal error"
# RESOURCE_EXHAUSTED from the edge's own limits (a method at its concurrency limit).
BUSY_MESSAGE = "server busy, try again later"


def _retry_info(error: DomainError) -> Message:
    assert isinstance(error, RetryLater)
    # Whole milliseconds, rounded up: a client that waits exactly this long is admitted.
    milliseconds = max(math.ceil(error.retry_after_seconds * 1000), 1)
    delay = duration_pb2.Duration(seconds=milliseconds // 1000, nanos=milliseconds % 1000 * 10**6)
    retry_info: Message = error_details_pb2.RetryInfo(retry_delay=delay)
    return retry_info


def _bad_request(error: DomainError) -> Message:
    assert isinstance(error, InvalidInput)
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=error.field, description=error.public_message
    )
    bad_request: Message = error_details_pb2.BadRequest(field_violations=[violation])
    return bad_request


DETAILS_BY_ERROR: dict[type[DomainError], Callable[[DomainError], Message]] = {
    InvalidInput: _bad_request,
    Throttled: _retry_info,
    ServerBusy: _retry_info,
}


def status_for(error: DomainError) -> grpc.StatusCode:
    """The status of a domain error, by the nearest type in its hierarchy."""
    for cls in type(error).__mro__:
        code = STATUS_BY_ERROR.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def rich_status_for(error: DomainError) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` of an error that carries details; None for the others."""
    detail = DETAILS_BY_ERROR.get(type(error))
    if detail is None:
        return None
    packed = any_pb2.Any()
    packed.Pack(detail(error))
    return status_pb2.Status(
        code=status_for(error).value[0], message=error.public_message, details=[packed]
    )
