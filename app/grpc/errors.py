"""The one table from error to gRPC status: its code, its reason and any other details.

Every refusal, whether a use case raised it or the edge made it (an
undecodable request, one that never arrived, a method at its limit, a bug), is
answered from this table (AIP-193): a ``google.rpc.Status`` in the
``grpc-status-details-bin`` trailer carrying exactly one
``google.rpc.ErrorInfo`` with a stable reason, plus a ``BadRequest`` naming
the field of an invalid request and a ``RetryInfo`` telling a throttled or
busy client how long to wait. docs/errors.md is the catalogue of the reasons.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

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
    WeakPassword,
    WrongPassword,
)
from app.domain.second_factor import (
    FactorAlreadyActive,
    FactorKeysMissing,
    FactorNotEnrolled,
    InvalidCode,
    InvalidTicket,
    SecondFactorEnrolmentRequired,
    SecondFactorRequired,
)
from app.domain.verification import (
    EmailAlreadyVerified,
    EmailNotVerified,
    InvalidVerificationToken,
)
from app.grpc.context import Context
from app.grpc.service_contract import SERVICE_NAME

INTERNAL_MESSAGE = "internal error"
# The ErrorInfo domain of every reason: the gRPC service's full name, so a
# client that talks to several services knows whose catalogue a reason is from.
ERROR_DOMAIN = SERVICE_NAME


class UndecodableRequest(DomainError):
    """The edge could not decode the request (bad wire format or UTF-8), or none was sent."""

    message = "malformed request"


class RequestNotReceived(DomainError):
    """The request message did not arrive within the receive timeout after its headers."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(f"request not received within {timeout_seconds:g} s")


def _retry_info(error: DomainError) -> Message:
    assert isinstance(error, RetryLater)
    # Whole milliseconds, rounded up: a client that waits exactly this long is admitted.
    milliseconds = max(math.ceil(error.retry_after_seconds * 1000), 1)
    delay = duration_pb2.Duration(seconds=milliseconds // 1000, nanos=milliseconds % 1000 * 10**6)
    retry_info: Message = error_details_pb2.RetryInfo(retry_delay=delay)
    return retry_info


def _bad_request(error: DomainError) -> Message:
    # An undecodable request has no field to name: the empty path is the whole request.
    field = error.field if isinstance(error, InvalidInput) else ""
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=field, description=error.public_message
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


@dataclass(frozen=True, slots=True)
class ErrorStatus:
    """A row of the table: the code, the ErrorInfo reason (UPPER_SNAKE, listed in
    docs/errors.md), the ``google.rpc`` detail the status carries besides, if any,
    and the fields the call's ``rpc finished`` log line adds (for operators only: a
    throttle's scope would tell a client whether an account exists)."""

    code: grpc.StatusCode
    reason: str
    details: Callable[[DomainError], Message] | None = None
    log_fields: Callable[[DomainError], dict[str, object]] | None = None


_C = grpc.StatusCode
STATUS_BY_ERROR: dict[type[DomainError], ErrorStatus] = {
    InvalidInput: ErrorStatus(_C.INVALID_ARGUMENT, "INVALID_FIELD", _bad_request),
    WeakPassword: ErrorStatus(_C.INVALID_ARGUMENT, "WEAK_PASSWORD", _bad_request),
    UndecodableRequest: ErrorStatus(_C.INVALID_ARGUMENT, "MALFORMED_REQUEST", _bad_request),
    EmailTaken: ErrorStatus(_C.ALREADY_EXISTS, "EMAIL_TAKEN"),
    UserNotFound: ErrorStatus(_C.NOT_FOUND, "USER_NOT_FOUND"),
    InvalidCredentials: ErrorStatus(_C.UNAUTHENTICATED, "INVALID_CREDENTIALS"),
    WrongPassword: ErrorStatus(_C.UNAUTHENTICATED, "WRONG_CURRENT_PASSWORD"),
    Unauthenticated: ErrorStatus(_C.UNAUTHENTICATED, "SESSION_REQUIRED"),
    PermissionDenied: ErrorStatus(_C.PERMISSION_DENIED, "PERMISSION_DENIED"),
    SessionNotFound: ErrorStatus(_C.NOT_FOUND, "SESSION_NOT_FOUND"),
    LastAdmin: ErrorStatus(_C.FAILED_PRECONDITION, "LAST_ADMIN"),
    StoreUnavailable: ErrorStatus(_C.UNAVAILABLE, "STORE_UNAVAILABLE"),
    # A bug behind a store or anywhere else: the message is the generic one and the
    # cause goes to the log only, so a client cannot tell the two apart.
    StoreFault: ErrorStatus(_C.INTERNAL, "INTERNAL"),
    Throttled: ErrorStatus(
        _C.RESOURCE_EXHAUSTED, "TOO_MANY_ATTEMPTS", _retry_info, _throttle_reason
    ),
    ServerBusy: ErrorStatus(_C.RESOURCE_EXHAUSTED, "SERVER_BUSY", _retry_info),
    RequestNotReceived: ErrorStatus(_C.DEADLINE_EXCEEDED, "REQUEST_NOT_RECEIVED"),
    # Not UNAUTHENTICATED: an old client must not take a right password for a wrong one.
    SecondFactorRequired: ErrorStatus(_C.FAILED_PRECONDITION, "SECOND_FACTOR_REQUIRED"),
    InvalidCode: ErrorStatus(_C.UNAUTHENTICATED, "INVALID_CODE"),
    InvalidTicket: ErrorStatus(_C.UNAUTHENTICATED, "INVALID_TICKET"),
    FactorAlreadyActive: ErrorStatus(_C.FAILED_PRECONDITION, "FACTOR_ALREADY_ACTIVE"),
    FactorNotEnrolled: ErrorStatus(_C.FAILED_PRECONDITION, "FACTOR_NOT_ENROLLED"),
    FactorKeysMissing: ErrorStatus(_C.FAILED_PRECONDITION, "MFA_KEYS_MISSING"),
    SecondFactorEnrolmentRequired: ErrorStatus(
        _C.FAILED_PRECONDITION, "SECOND_FACTOR_ENROLMENT_REQUIRED"
    ),
    # Only after a right password: a wrong one is INVALID_CREDENTIALS as ever.
    EmailNotVerified: ErrorStatus(_C.FAILED_PRECONDITION, "EMAIL_NOT_VERIFIED"),
    EmailAlreadyVerified: ErrorStatus(_C.FAILED_PRECONDITION, "EMAIL_ALREADY_VERIFIED"),
    InvalidVerificationToken: ErrorStatus(_C.FAILED_PRECONDITION, "INVALID_VERIFICATION_TOKEN"),
}

_UNKNOWN = STATUS_BY_ERROR[StoreFault]


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


def reason_for(error: DomainError) -> str:
    """The ErrorInfo reason of a domain error."""
    return _row_of(error).reason


def _status(row: ErrorStatus, message: str, extra: Message | None) -> status_pb2.Status:
    error_info = error_details_pb2.ErrorInfo(reason=row.reason, domain=ERROR_DOMAIN)
    details = [error_info] if extra is None else [error_info, extra]
    packed = []
    for detail in details:
        one = any_pb2.Any()
        one.Pack(detail)
        packed.append(one)
    return status_pb2.Status(code=row.code.value[0], message=message, details=packed)


def rich_status_for(error: DomainError) -> status_pb2.Status:
    """The ``google.rpc.Status`` of an error: its ErrorInfo, then its row's other detail."""
    row = _row_of(error)
    extra = None if row.details is None else row.details(error)
    return _status(row, error.public_message, extra)


def internal_status() -> status_pb2.Status:
    """The status of a failure that is no domain error (a bug): INTERNAL, nothing more."""
    return _status(_UNKNOWN, INTERNAL_MESSAGE, None)


async def abort_with(context: Context, status: status_pb2.Status) -> NoReturn:
    """End the call with ``status``, its details in the ``grpc-status-details-bin`` trailer."""
    await context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("abort_with_status returned")  # it always raises AbortError


def log_fields_for(error: DomainError) -> dict[str, object]:
    """The fields the call's log line gets for ``error`` (none for most errors)."""
    fields = _row_of(error).log_fields
    return {} if fields is None else fields(error)
