"""The wire forms of the domain's users and sessions."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from app.domain.sessions import SessionRecord
from app.domain.users import User
from app.grpc.generated import user_service_pb2 as pb


def _timestamp(value: object) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)  # type: ignore[arg-type]
    return stamp


def user_message(user: User) -> pb.User:
    """The wire form of a user; field 5 (the old password) is reserved, never set."""
    return pb.User(
        uuid=str(user.id),
        first_name=user.first_name,
        last_name=user.last_name,
        email=user.email,
        role=user.role.value,
        avatar=user.avatar or "",
        created_at=_timestamp(user.created_at),
        updated_at=_timestamp(user.updated_at),
        email_verified=user.email_verified,
    )


def session_message(record: SessionRecord) -> pb.SessionInfo:
    """The wire form of a session: its handle, never its id."""
    return pb.SessionInfo(
        handle=record.handle,
        created_at=_timestamp(record.created_at),
        last_seen=_timestamp(record.last_seen),
        expires_at=_timestamp(record.expires_at),
        client_address=record.client_address,
        user_agent=record.user_agent,
        current=record.current,
        second_factor=record.second_factor,
    )
