"""The one table from domain error to gRPC status: its code and any details.

Most errors become a code and their public message. Some also carry
``google.rpc`` details (the richer error model of grpcio-status): a throttled
or busy refusal tells the client how long to wait in a ``google.rpc.RetryInfo``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

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
    StoreFault,
    StoreUnavailable,
    Throttled,
    Unauthenticated,
    UserNotFound,
)
from app.domain.second_factor import (
    FactorAlreadyActive,
    FactorKeysMissing,
    FactorNotEnrolled,
    InvalidCode,
    InvalidTicket,
    SecondFactorRequired,
)

INTERNAL_MESSAGE = "internal error"
# google.rpc.ErrorInfo's domain for the reasons this service gives (AIP-193).
ERROR_DOMAIN = "userService"
SECOND_FACTOR_REQUIRED = "SECOND_FACTOR_REQUIRED"
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


def _throttle_reason(error: DomainError) -> dict[str, object]:
    assert isinstance(error, Throttled)
    return {
        "throttle_action": error.action,
        "throttle_scope": error.scope,
        "retry_after_seconds": round(error.retry_after_seconds, 3),
    }


def _second_factor_required(error: DomainError) -> Message:
    info: Message = error_details_pb2.ErrorInfo(reason=SECOND_FACTOR_REQUIRED, domain=ERROR_DOMAIN)
    return info


@dataclass(frozen=True, slots=True)
class ErrorStatus:
    """A row of the table: the code, the ``google.rpc`` detail the status carries, if any,
    and the fields the call's ``rpc finished`` log line adds (for operators only: a
    throttle's scope would tell a client whether an account exists)."""

    code: grpc.StatusCode
    details: Callable[[DomainError], Message] | None = None
    log_fields: Callable[[DomainError], dict[str, object]] | None = None


STATUS_BY_ERROR: dict[type[DomainError], ErrorStatus] = {
    InvalidInput: ErrorStatus(grpc.StatusCode.INVALID_ARGUMENT, _bad_request),
    EmailTaken: ErrorStatus(grpc.StatusCode.ALREADY_EXISTS),
    UserNotFound: ErrorStatus(grpc.StatusCode.NOT_FOUND),
    InvalidCredentials: ErrorStatus(grpc.StatusCode.UNAUTHENTICATED),
    Unauthenticated: ErrorStatus(grpc.StatusCode.UNAUTHENTICATED),
    PermissionDenied: ErrorStatus(grpc.StatusCode.PERMISSION_DENIED),
    SessionNotFound: ErrorStatus(grpc.StatusCode.NOT_FOUND),
    LastAdmin: ErrorStatus(grpc.StatusCode.FAILED_PRECONDITION),
    StoreUnavailable: ErrorStatus(grpc.StatusCode.UNAVAILABLE),
    # A bug behind a store: its message is the generic one, its cause goes to the log only.
    StoreFault: ErrorStatus(grpc.StatusCode.INTERNAL),
    Throttled: ErrorStatus(grpc.StatusCode.RESOURCE_EXHAUSTED, _retry_info, _throttle_reason),
    ServerBusy: ErrorStatus(grpc.StatusCode.RESOURCE_EXHAUSTED, _retry_info),
    # Not UNAUTHENTICATED: an old client must not take a right password for a wrong one.
    SecondFactorRequired: ErrorStatus(grpc.StatusCode.FAILED_PRECONDITION, _second_factor_required),
    InvalidCode: ErrorStatus(grpc.StatusCode.UNAUTHENTICATED),
    InvalidTicket: ErrorStatus(grpc.StatusCode.UNAUTHENTICATED),
    FactorAlreadyActive: ErrorStatus(grpc.StatusCode.FAILED_PRECONDITION),
    FactorNotEnrolled: ErrorStatus(grpc.StatusCode.FAILED_PRECONDITION),
    FactorKeysMissing: ErrorStatus(grpc.StatusCode.FAILED_PRECONDITION),
}

_UNKNOWN = ErrorStatus(grpc.StatusCode.INTERNAL)


def _row_of(error: DomainError) -> ErrorStatus:
    """The row of the nearest type in the error's hierarchy; INTERNAL for one not listed."""
    for cls in type(error).__mro__:
        row = STATUS_BY_ERROR.get(cls)
        if row is not None:
            return row
    return _UNKNOWN


def status_for(error: DomainError) -> grpc.StatusCode:
    """The status code of a domain error."""
    return _row_of(error).code


def rich_status_for(error: DomainError) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` of an error that carries details; None for the others."""
    row = _row_of(error)
    if row.details is None:
        return None
    packed = any_pb2.Any()
    packed.Pack(row.details(error))
    return status_pb2.Status(code=row.code.value[0], message=error.public_message, details=[packed])


def log_fields_for(error: DomainError) -> dict[str, object]:
    """The fields the call's log line gets for ``error`` (none for most errors)."""
    fields = _row_of(error).log_fields
    return {} if fields is None else fields(error)
