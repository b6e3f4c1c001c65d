"""Profile updates (AIP-134: a user's names and avatar, chosen by a field mask) and
what stands for a deleted user."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from app.domain.errors import InvalidInput
from app.domain.users import (
    AVATAR_SCHEMES,
    Principal,
    Role,
    User,
    UserStatus,
    parse_avatar,
    parse_name,
)


class ProfileField(enum.StrEnum):
    """The fields of a user that a profile update may change."""

    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    AVATAR = "avatar"


# The user's other fields: who it is, its role (SetUserRole) and its times,
# which no profile update changes.
FIXED_FIELDS = frozenset({"uuid", "email", "role", "created_at", "updated_at"})
# AIP-134's mask for "every field the update may change".
EVERY_FIELD = "*"
_KNOWN = ", ".join(field.value for field in ProfileField)


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """The new value of each field to change; an avatar of None is cleared."""

    values: Mapping[ProfileField, str | None]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def changed_from(self, user: User) -> frozenset[ProfileField]:
        """The fields whose new value differs from ``user``'s."""
        return frozenset(
            field for field, value in self.values.items() if getattr(user, field.value) != value
        )

    def applied_to(self, user: User) -> User:
        """``user`` with these values (its ``updated_at`` is the store's to set)."""
        values = self.values
        return replace(
            user,
            # A name is never None (parsing refuses an empty one).
            first_name=values.get(ProfileField.FIRST_NAME) or user.first_name,
            last_name=values.get(ProfileField.LAST_NAME) or user.last_name,
            avatar=values.get(ProfileField.AVATAR, user.avatar),
        )


_PATH_LIKE = re.compile(r"[a-z_][a-z0-9_.]{0,63}")


def _masked_fields(paths: Sequence[str], mask_field: str) -> frozenset[ProfileField]:
    """The fields an update mask names; unknown and unchangeable paths are refused by name."""
    known = {field.value for field in ProfileField}
    unknown = sorted({p for p in paths if p not in known | FIXED_FIELDS and p != EVERY_FIELD})
    if unknown:
        # A path is repeated back only when it looks like one: the answer must not echo
        # kilobytes of whatever a client sent (gRPC's trailers are bounded too).
        shown = [path for path in unknown if _PATH_LIKE.fullmatch(path)][:3]
        if len(shown) == len(unknown):
            raise InvalidInput(mask_field, f"unknown field paths: {', '.join(shown)}")
        raise InvalidInput(mask_field, f"{len(unknown)} unknown field paths (fields: {_KNOWN})")
    fixed = sorted(FIXED_FIELDS.intersection(paths))
    if fixed:
        raise InvalidInput(
            mask_field, f"cannot be changed by this update: {', '.join(fixed)} (fields: {_KNOWN})"
        )
    if EVERY_FIELD in paths:
        return frozenset(ProfileField)
    return frozenset(ProfileField(path) for path in paths)


def parse_profile_changes(
    requested: Mapping[str, str],
    mask: Sequence[str],
    *,
    prefix: str = "user.",
    mask_field: str = "update_mask",
    avatar_schemes: frozenset[str] = AVATAR_SCHEMES,
) -> ProfileChanges:
    """The changes a request asks for, by AIP-134's rules; ``InvalidInput`` names the field.

    ``requested`` holds the request's user fields by name (``first_name``,
    ``last_name``, ``avatar``, ``email``, ``role``; the times are output only
    and not looked at). With a ``mask``, the fields it names change, to
    whatever the request holds (an empty avatar clears it; an empty name is
    refused as at Register). Without one, the fields that are set (not empty)
    change, and a set ``email`` or ``role`` is refused. Names and avatar are
    checked as at Register; an update that changes nothing is refused.
    """
    if mask:
        fields = _masked_fields(mask, mask_field)
    else:
        fixed = sorted(name for name in FIXED_FIELDS if requested.get(name))
        if fixed:
            raise InvalidInput(f"{prefix}{fixed[0]}", "cannot be changed by this update")
        fields = frozenset(field for field in ProfileField if requested.get(field.value))
    if not fields:
        raise InvalidInput(mask_field, f"names no field to change (fields: {_KNOWN})")
    values: dict[ProfileField, str | None] = {}
    for field in sorted(fields):
        raw, name = requested.get(field.value, ""), f"{prefix}{field.value}"
        is_avatar = field is ProfileField.AVATAR
        values[field] = (
            parse_avatar(raw, name, avatar_schemes) if is_avatar else parse_name(raw, name)
        )
    return ProfileChanges(values)


def deleted_principal(principal: Principal) -> Principal:
    """What stands beside the sessions for a user just deleted (``principal`` as it was).

    Disabled, newer in version and sessions epoch than any copy of the row, so
    a login that read the row before its deletion cannot open a session, and
    holding nothing personal: only the id.
    """
    user = principal.user
    erased = User(
        id=user.id,
        email="",
        first_name="",
        last_name="",
        role=Role.USER,
        avatar=None,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )
    return Principal(
        user=erased,
        status=UserStatus.DISABLED,
        version=principal.version + 1,
        sessions_epoch=principal.sessions_epoch + 1,
    )
