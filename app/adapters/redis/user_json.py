"""Users as compact JSON, the form they take in the session store and the cache."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from uuid import UUID

from app.domain.users import Role, User


def encode_user(user: User) -> str:
    return json.dumps(
        {
            "id": str(user.id),
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "role": user.role.value,
            "avatar": user.avatar,
            "created_at": user.created_at.isoformat(),
            "updated_at": user.updated_at.isoformat(),
            "email_verified": user.email_verified,
        },
        separators=(",", ":"),
    )


@functools.lru_cache(maxsize=4096)
def decode_user(raw: str | bytes) -> User:
    """The user in ``raw``; memoised by content (users are immutable values), so a
    principal or cache entry read again and again is parsed once.
    """
    data = json.loads(raw)
    return User(
        id=UUID(data["id"]),
        email=data["email"],
        first_name=data["first_name"],
        last_name=data["last_name"],
        role=Role(data["role"]),
        avatar=data["avatar"],
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        # Absent from entries written before the field existed.
        email_verified=data.get("email_verified", False),
    )
