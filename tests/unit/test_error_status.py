"""The error table: every error's code and reason, and the details each status carries."""

from __future__ import annotations

import inspect
import re

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from app.domain import errors as domain_errors
from app.domain.errors import (
    DomainError,
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    LastAdmin,
    PermissionDenied,
    ServerBusy,
    SessionNotFound,
    Store,
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
from app.grpc import errors as edge_errors
from app.grpc.errors import (
    ERROR_DOMAIN,
    STATUS_BY_ERROR,
    RequestNotReceived,
    UndecodableRequest,
    internal_status,
    reason_for,
    rich_status_for,
    status_for,
)

# The contract, written out: an error of each row of the table, and its code.
CODE_OF_EACH_ERROR: list[tuple[DomainError, grpc.StatusCode]] = [
    (InvalidInput("email", "is not an email address"), grpc.StatusCode.INVALID_ARGUMENT),
    (EmailTaken(), grpc.StatusCode.ALREADY_EXISTS),
    (UserNotFound(), grpc.StatusCode.NOT_FOUND),
    (InvalidCredentials(), grpc.StatusCode.UNAUTHENTICATED),
    (WrongPassword(), grpc.StatusCode.UNAUTHENTICATED),
    (WeakPassword("password", "is too easy to guess."), grpc.StatusCode.INVALID_ARGUMENT),
    (UndecodableRequest(), grpc.StatusCode.INVALID_ARGUMENT),
    (RequestNotReceived(5.0), grpc.StatusCode.DEADLINE_EXCEEDED),
    (Unauthenticated(), grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied(), grpc.StatusCode.PERMISSION_DENIED),
    (SessionNotFound(), grpc.StatusCode.NOT_FOUND),
    (LastAdmin(), grpc.StatusCode.FAILED_PRECONDITION),
    (StoreUnavailable(Store.REDIS, "TimeoutError"), grpc.StatusCode.UNAVAILABLE),
    (StoreFault(Store.REDIS, "ResponseError"), grpc.StatusCode.INTERNAL),
    (Throttled(1.0, action="login", scope="account"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ServerBusy(), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (SecondFactorRequired(), grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidCode(), grpc.StatusCode.UNAUTHENTICATED),
    (InvalidTicket(), grpc.StatusCode.UNAUTHENTICATED),
    (FactorAlreadyActive(), grpc.StatusCode.FAILED_PRECONDITION),
    (FactorNotEnrolled(), grpc.StatusCode.FAILED_PRECONDITION),
    (FactorKeysMissing(), grpc.StatusCode.FAILED_PRECONDITION),
    (SecondFactorEnrolmentRequired(), grpc.StatusCode.FAILED_PRECONDITION),
    (EmailNotVerified(), grpc.StatusCode.FAILED_PRECONDITION),
    (EmailAlreadyVerified(), grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidVerificationToken(), grpc.StatusCode.FAILED_PRECONDITION),
]


def test_every_row_of_the_table_is_written_out_here():
    assert {type(error) for error, _ in CODE_OF_EACH_ERROR} == set(STATUS_BY_ERROR)


@pytest.mark.parametrize(
    ("error", "code"), CODE_OF_EACH_ERROR, ids=lambda value: type(value).__name__
)
def test_each_domain_error_has_its_code(error, code):
    assert status_for(error) is code


def test_a_subtype_takes_the_row_of_its_nearest_listed_ancestor():
    class Unlisted(InvalidCredentials):
        pass

    assert status_for(Unlisted()) is grpc.StatusCode.UNAUTHENTICATED
    assert reason_for(Unlisted()) == "INVALID_CREDENTIALS"


# Bases that are never raised themselves: each of their subclasses has its own row.
ABSTRACT_ERRORS = {DomainError, domain_errors.RetryLater}


def _error_classes(module: object) -> set[type[DomainError]]:
    return {
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, DomainError)
        and cls.__module__ == getattr(module, "__name__", "")
        and cls not in ABSTRACT_ERRORS
    }


@pytest.mark.parametrize(
    "error_class",
    sorted(_error_classes(domain_errors) | _error_classes(edge_errors), key=str),
    ids=str,
)
def test_every_error_class_has_a_row_of_its_own(error_class):
    assert error_class in STATUS_BY_ERROR


def test_reasons_are_unique_and_upper_snake():
    reasons = [row.reason for row in STATUS_BY_ERROR.values()]
    assert len(reasons) == len(set(reasons))
    for reason in reasons:
        assert re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", reason), reason


def _error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo:
    infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    assert len(infos) == 1
    info = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info)
    return info


@pytest.mark.parametrize(
    ("error", "code"), CODE_OF_EACH_ERROR, ids=lambda value: type(value).__name__
)
def test_each_status_carries_one_error_info_with_the_rows_reason(error, code):
    info = _error_info(rich_status_for(error))
    assert (info.reason, info.domain) == (STATUS_BY_ERROR[type(error)].reason, ERROR_DOMAIN)
    assert not info.metadata


def test_an_unexpected_failure_is_internal_with_its_reason():
    status = internal_status()
    assert status.code == grpc.StatusCode.INTERNAL.value[0]
    assert status.message == "internal error"
    assert _error_info(status).reason == "INTERNAL"


def test_a_domain_error_the_table_does_not_know_is_internal():
    class Unforeseen(DomainError):
        pass

    assert status_for(Unforeseen()) is grpc.StatusCode.INTERNAL
    assert status_for(DomainError()) is grpc.StatusCode.INTERNAL


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(2.5, (2, 500_000_000)), (0.0001, (0, 1_000_000)), (900.0, (900, 0))],
)
def test_a_throttled_error_carries_its_wait_as_retry_info(seconds, expected):
    error = Throttled(seconds, action="login", scope="account")
    status = rich_status_for(error)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert status.message == "too many attempts, try again later"
    [_, detail] = status.details
    retry = error_details_pb2.RetryInfo()
    assert detail.Unpack(retry)
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == expected


def test_the_message_says_nothing_about_which_limit_was_hit():
    account = rich_status_for(Throttled(1.0, scope="account"))
    address = rich_status_for(Throttled(1.0, scope="address"))
    assert account == address


@pytest.mark.parametrize(
    "error",
    [
        error
        for error, _ in CODE_OF_EACH_ERROR
        if not isinstance(error, Throttled | ServerBusy | InvalidInput | UndecodableRequest)
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_without_other_details_carry_only_their_error_info(error):
    [detail] = rich_status_for(error).details
    assert detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)


def test_invalid_input_names_its_field_as_a_bad_request_violation():
    status = rich_status_for(InvalidInput("avatar", "must be a URL with scheme https"))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    bad_request = error_details_pb2.BadRequest()
    assert status.details[1].Unpack(bad_request)
    [violation] = bad_request.field_violations
    assert (violation.field, violation.description) == (
        "avatar",
        "avatar: must be a URL with scheme https",
    )


def test_a_busy_server_asks_for_a_second():
    status = rich_status_for(ServerBusy())
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert status.message == "server busy, try again later"
    retry = error_details_pb2.RetryInfo()
    assert status.details[1].Unpack(retry)
    assert retry.retry_delay.seconds == 1
    assert status_for(ServerBusy()) is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_an_old_clients_refusal_names_the_second_factor_in_an_error_info():
    status = rich_status_for(SecondFactorRequired())
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("SECOND_FACTOR_REQUIRED", ERROR_DOMAIN)
