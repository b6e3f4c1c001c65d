"""The error table: codes, and the RetryInfo detail of a throttled call."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from app.domain.errors import InvalidCredentials, ServerBusy, Throttled
from app.grpc.errors import rich_status_for, status_for


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(2.5, (2, 500_000_000)), (0.0001, (0, 1_000_000)), (900.0, (900, 0))],
)
def test_a_throttled_error_carries_its_wait_as_retry_info(seconds, expected):
    error = Throttled(seconds, action="login", scope="account")
    status = rich_status_for(error)
    assert status is not None
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert status.message == "too many attempts, try again later"
    [detail] = status.details
    retry = error_details_pb2.RetryInfo()
    assert detail.Unpack(retry)
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == expected


def test_the_message_says_nothing_about_which_limit_was_hit():
    account = rich_status_for(Throttled(1.0, scope="account"))
    address = rich_status_for(Throttled(1.0, scope="address"))
    assert account is not None and address is not None
    assert account.message == address.message


def test_errors_without_details_have_no_rich_status():
    assert rich_status_for(InvalidCredentials()) is None


def test_a_busy_server_asks_for_a_second():
    status = rich_status_for(ServerBusy())
    assert status is not None
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert status.message == "server busy, try again later"
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.seconds == 1
    assert status_for(ServerBusy()) is grpc.StatusCode.RESOURCE_EXHAUSTED
