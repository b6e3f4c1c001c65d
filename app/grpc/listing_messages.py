"""ListUsers on the wire: the filters of its request parsed into domain values."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Literal

from google.protobuf.timestamp_pb2 import Timestamp

from app.domain.errors import InvalidInput
from app.domain.listing import UserFilter, parse_user_filter
from app.grpc.generated import user_service_pb2 as pb

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_FIRST_SECOND = -62_135_596_800
_LAST_SECOND = 253_402_300_799
_MICROSECONDS_LAST_SECOND = 999_999


def _instant(
    request: pb.ListUsersRequest, field: Literal["created_from", "created_before"]
) -> datetime | None:
    """The timestamp ``field`` of ``request``, None when unset.

    Rounded up to the microsecond PostgreSQL stores: for the inclusive
    ``created_from`` and the exclusive ``created_before`` alike, a user
    created at a whole microsecond is then in the range exactly when it is
    in the range asked for.
    """
    if not request.HasField(field):
        return None
    stamp: Timestamp = getattr(request, field)
    if not (_FIRST_SECOND <= stamp.seconds <= _LAST_SECOND and 0 <= stamp.nanos < 10**9):
        raise InvalidInput(field, "is not a valid timestamp")
    microseconds = math.ceil(stamp.nanos / 1000)
    if stamp.seconds == _LAST_SECOND and microseconds > _MICROSECONDS_LAST_SECOND:
        microseconds = _MICROSECONDS_LAST_SECOND
    return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=microseconds)


def user_filter_of(request: pb.ListUsersRequest) -> UserFilter:
    """The filter a ListUsers request asks for; ``InvalidInput`` naming the bad field."""
    return parse_user_filter(
        email_prefix=request.email_prefix,
        role=request.role,
        status=request.status,
        created_from=_instant(request, "created_from"),
        created_before=_instant(request, "created_before"),
    )
