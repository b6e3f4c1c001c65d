"""Reading the ``google.rpc`` details of a failed call, as a client does."""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from app.grpc.errors import ERROR_DOMAIN

DetailT = TypeVar("DetailT", bound=Message)


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The ``google.rpc.Status`` in the error's ``grpc-status-details-bin`` trailer."""
    status = rpc_status.from_call(error)
    assert status is not None, f"{error.code().name} without details: {error.details()!r}"
    return status


def _details_of(status: status_pb2.Status, kind: type[DetailT]) -> list[DetailT]:
    found = []
    for packed in status.details:
        if packed.Is(kind.DESCRIPTOR):
            detail = kind()
            packed.Unpack(detail)
            found.append(detail)
    return found


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The call's one ErrorInfo, in this service's domain; fails on none or several."""
    [info] = _details_of(rich_status(error), error_details_pb2.ErrorInfo)
    assert info.domain == ERROR_DOMAIN
    return info


def reason_of(error: grpc.aio.AioRpcError) -> str:
    return str(error_info(error).reason)


def reasons_of_call(call: grpc.Call) -> list[str]:
    """The reasons of every ErrorInfo a failed call of a blocking channel carries."""
    status = rpc_status.from_call(call)
    if status is None:
        return []
    return [info.reason for info in _details_of(status, error_details_pb2.ErrorInfo)]


def field_violation(error: grpc.aio.AioRpcError) -> error_details_pb2.BadRequest.FieldViolation:
    """The one field violation of an INVALID_ARGUMENT call's BadRequest."""
    [bad_request] = _details_of(rich_status(error), error_details_pb2.BadRequest)
    [violation] = bad_request.field_violations
    return violation


def retry_delay_seconds(error: grpc.aio.AioRpcError) -> float:
    """The wait the call's RetryInfo asks for."""
    [retry] = _details_of(rich_status(error), error_details_pb2.RetryInfo)
    return float(retry.retry_delay.ToTimedelta().total_seconds())
