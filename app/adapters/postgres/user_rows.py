"""The columns of a user row and their domain values: one row format for all readers of users."""

from __future__ import annotations

from typing import Any

from app.domain.users import Principal, Role, User, UserStatus

USER_COLUMNS = (
    "id, email, first_name, last_name, role, avatar, created_at, updated_at, email_verified"
)
"""What :func:`user_from_row` reads."""
PRINCIPAL_COLUMNS = f"{USER_COLUMNS}, status, version, sessions_epoch"
"""What :func:`principal_from_row` reads."""


def user_from_row(row: Any) -> User:
    """The :class:`User` of a row holding at least :data:`USER_COLUMNS`."""
    return User(
        id=row["id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        role=Role(row["role"]),
        avatar=row["avatar"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        email_verified=row["email_verified"],
    )


def principal_from_row(row: Any) -> Principal:
    """The :class:`Principal` of a row holding at least :data:`PRINCIPAL_COLUMNS`."""
    return Principal(
        user=user_from_row(row),
        status=UserStatus(row["status"]),
        version=row["version"],
        sessions_epoch=row["sessions_epoch"],
    )
