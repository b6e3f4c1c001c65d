"""The user: entity, value objects and the rules for valid input."""

from __future__ import annotations

import enum
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import NewType
from urllib.parse import urlsplit
from uuid import UUID

import regex
from confusable_homoglyphs import categories
from email_validator import EmailNotValidError, validate_email

from app.domain.errors import InvalidInput
from app.domain.passwords import OfferedPassword, Password, PasswordPolicy

EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 64
# The users.avatar column's CHECK (migrations/0001.create-users.sql).
AVATAR_MAX_LENGTH = 250
# Avatars are shown by clients as images: a scheme that runs code
# (``javascript:``) or inlines content (``data:``) has no place there.
AVATAR_SCHEMES = frozenset({"https"})
# Never allowed, whatever ``profiles.avatar_schemes`` says.
UNSAFE_AVATAR_SCHEMES = frozenset({"javascript", "vbscript", "data", "file", "blob"})

# An address that passed :func:`normalise_email`: trimmed, valid, lower-cased.
Email = NewType("Email", str)
# The form in which every spelling of an address is one account
# (:func:`canonical_email`): what uniqueness, lookups and the login throttle
# compare. Computed once where the address is parsed, then carried.
AccountKey = NewType("AccountKey", str)


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"
    # A service-to-service caller: may read any user, may not use admin RPCs.
    SERVICE = "service"


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class User:
    """A registered user as clients see it: no password, no hash."""

    id: UUID
    email: str
    first_name: str
    last_name: str
    role: Role
    avatar: str | None
    created_at: datetime
    updated_at: datetime
    # Whether the user proved the address is theirs (docs/email-verification.md).
    email_verified: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    """A user as authorization sees it: the user now, its status, and its counters.

    ``version`` grows with every change of the row, so of two copies the newer
    one wins; ``sessions_epoch`` grows when every session of the user must end,
    so a session made under an older epoch is refused.
    """

    user: User
    status: UserStatus
    version: int
    sessions_epoch: int

    @property
    def active(self) -> bool:
        return self.status is UserStatus.ACTIVE

    @property
    def may_administer(self) -> bool:
        """Only an active admin may change other users (roles, status, sessions)."""
        return self.active and self.user.role is Role.ADMIN

    @property
    def may_read_anyone(self) -> bool:
        """Admins and service callers may read any user."""
        return self.user.role in (Role.ADMIN, Role.SERVICE)

    def may_read(self, user_id: UUID) -> bool:
        """Anyone may read their own record; admins and service callers anyone's."""
        return self.user.id == user_id or self.may_read_anyone


@dataclass(frozen=True, slots=True)
class FactorPolicy:
    """The roles whose admin calls wait until the user has an active second factor
    (``APP_MFA__REQUIRED_ROLES``): with it, a stolen admin password alone administers
    nothing. Asked after ``Principal.may_administer``; empty, it holds no one back."""

    required_roles: frozenset[Role] = frozenset({Role.ADMIN})

    def applies_to(self, user: User) -> bool:
        """Whether ``user``'s role must have a factor before it administers (so whether
        enrolment needs looking up at all)."""
        return user.role in self.required_roles

    def holds_back(self, user: User, enrolled: bool) -> bool:
        """Whether ``user``'s admin calls wait: their role needs a factor, they have none."""
        return self.applies_to(user) and not enrolled


def new_user_id() -> UUID:
    """A fresh user id, made by the domain before the user is stored (random, version 4)."""
    return uuid.uuid4()


@dataclass(frozen=True, slots=True)
class NewUser:
    """A validated registration with its id, ready to be stored."""

    id: UUID
    email: str
    first_name: str
    last_name: str
    role: Role
    avatar: str | None
    password_hash: str


@dataclass(frozen=True, slots=True)
class Registration:
    """What a client asked to register, validated and normalised."""

    email: Email
    first_name: str
    last_name: str
    password: Password = field(repr=False)
    role: Role
    avatar: str | None

    def hashed(self, password_hash: str) -> NewUser:
        """The user to store: this registration, with a new id and its password's hash."""
        return NewUser(
            id=new_user_id(),
            email=self.email,
            first_name=self.first_name,
            last_name=self.last_name,
            role=self.role,
            avatar=self.avatar,
            password_hash=password_hash,
        )


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn") for char in value)


def _trimmed_text(raw: str, field: str, max_length: int, *, required: bool) -> str:
    """``raw`` without surrounding white space, bounded and free of control characters.

    Empty is allowed (returned as "") only when not ``required``.
    """
    value = raw.strip()
    if not value:
        if required:
            raise InvalidInput(field, "is required")
        return value
    if len(value) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    if _has_control_characters(value):
        raise InvalidInput(field, "must not contain control characters")
    return value


def normalise_email(raw: str, field: str = "email") -> Email:
    """Trim, check syntax and length, and lower-case an email address.

    Raises :class:`InvalidInput` naming ``field`` when it is not a valid address.
    """
    candidate = _trimmed_text(raw, field, EMAIL_MAX_LENGTH, required=True)
    try:
        validated = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as err:
        raise InvalidInput(field, "is not a valid email address") from err
    return Email(validated.normalized.lower())


def canonical_email(email: str) -> AccountKey:
    """The form in which two addresses are the same address: NFKC, then case-folded.

    ``kate@`` with a fullwidth ``k`` (U+FF4B), ``Kate@`` and ``kate@`` share
    one. Uniqueness and lookups compare this form; the address is stored and
    shown as typed (lower-cased). NFKC again after folding keeps it stable.
    """
    folded = unicodedata.normalize("NFKC", email).casefold()
    return AccountKey(unicodedata.normalize("NFKC", folded))


# Script property values that go with any script: digits, punctuation, marks.
_SCRIPT_NEUTRAL = frozenset({"COMMON", "INHERITED"})
# UTS #39's "highly restrictive" level: one script, or one of these mixes,
# which are how Japanese, Chinese and Korean are written.
_SCRIPT_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def _is_single_script(text: str) -> bool:
    scripts = set(categories.unique_aliases(text)) - _SCRIPT_NEUTRAL
    return len(scripts) <= 1 or any(scripts <= mix for mix in _SCRIPT_MIXES)


def new_email(raw: str) -> Email:
    """An address to register: valid (:func:`normalise_email`) and not mixing scripts.

    The local part and each domain label must each be written in one script
    (digits and punctuation go with any), so ``kate@`` with a Cyrillic ``a``
    (U+0430) cannot pose as the Latin one. Lookups do not apply this rule: addresses
    registered before it still log in.
    """
    email = normalise_email(raw)
    local_part, _, domain = email.rpartition("@")
    if not all(_is_single_script(part) for part in (local_part, *domain.split("."))):
        raise InvalidInput("email", "must not mix scripts (such as Latin and Cyrillic) in a part")
    return email


# What a name may not hold because it shows as nothing or breaks the line it
# is shown on: format characters (Cf: zero-width characters, bidi overrides and
# isolates, the BOM, the soft hyphen, tag characters), Unicode's
# default-ignorable code points (the Hangul fillers U+115F, U+1160, U+3164 and
# U+FFA0, which are letters, variation selectors, the combining grapheme
# joiner), line and paragraph separators (Zl, Zp), and the one symbol drawn
# without ink, the blank Braille pattern U+2800.
_INVISIBLE_IN_NAMES = regex.compile(r"[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Zl}\p{Zp}\u2800]")
# In a URL, also any white space and anything outside the assigned, visible
# characters (\p{C}: control, format, surrogate, private-use, unassigned).
_UNSAFE_IN_URLS = regex.compile(r"[\p{C}\p{White_Space}\p{Default_Ignorable_Code_Point}\u2800]")


def _name(raw: str, field: str) -> str:
    """A name: trimmed, bounded, nothing invisible (see above), at least one letter."""
    value = _trimmed_text(raw, field, NAME_MAX_LENGTH, required=True)
    if _INVISIBLE_IN_NAMES.search(value):
        raise InvalidInput(
            field, "must not contain invisible characters, line separators or bidi controls"
        )
    if not any(unicodedata.category(char).startswith("L") for char in value):
        raise InvalidInput(field, "must contain a letter")
    return value


def _avatar(
    raw: str, field: str = "avatar", schemes: frozenset[str] = AVATAR_SCHEMES
) -> str | None:
    """An avatar: empty (None), or a URL of one of ``schemes`` with a host and no credentials.

    Checked on the text as urllib splits it, after refusing anything that would
    make the text read differently from what it is (white space, control, bidi
    and invisible characters).
    """
    value = _trimmed_text(raw, field, AVATAR_MAX_LENGTH, required=False)
    if not value:
        return None
    if _UNSAFE_IN_URLS.search(value):
        raise InvalidInput(
            field, "must not contain white space, control, invisible or bidi characters"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as err:
        raise InvalidInput(field, "is not a valid URL") from err
    if parts.scheme.lower() not in schemes - UNSAFE_AVATAR_SCHEMES:
        allowed = ", ".join(sorted(schemes - UNSAFE_AVATAR_SCHEMES))
        raise InvalidInput(field, f"must be a URL with scheme {allowed}")
    if not parts.hostname:
        raise InvalidInput(field, "must name a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(field, "must not contain a user name or password")
    return value


def parse_role(raw: str) -> Role:
    """Empty means ``user``; anything but ``user``, ``admin`` or ``service`` is invalid."""
    value = raw.strip().lower()
    if not value:
        return Role.USER
    try:
        return Role(value)
    except ValueError as err:
        raise InvalidInput("role", "must be 'user', 'admin' or 'service'") from err


def parse_registration(
    *,
    email: str,
    first_name: str,
    last_name: str,
    password: str,
    role: str,
    avatar: str,
    policy: PasswordPolicy,
    avatar_schemes: frozenset[str] = AVATAR_SCHEMES,
) -> Registration:
    """Validate and normalise a registration request; raise :class:`InvalidInput`."""
    return Registration(
        email=new_email(email),
        first_name=_name(first_name, "first_name"),
        last_name=_name(last_name, "last_name"),
        password=policy.new_password(password),
        role=parse_role(role),
        avatar=_avatar(avatar, schemes=avatar_schemes),
    )


def parse_user_id(raw: str, field: str = "uuid") -> UUID:
    """A user id is a UUID in any of its usual spellings; errors name ``field``."""
    try:
        return UUID(raw.strip())
    except ValueError as err:
        raise InvalidInput(field, "is not a valid UUID") from err


def parse_role_assignment(raw_user_id: str, raw_role: str) -> tuple[UUID, Role]:
    """The user and the role an admin gives them; the role must be stated.

    Checked in this order: a missing role, the user id, then the role's value.
    """
    if not raw_role.strip():
        raise InvalidInput("role", "is required")
    return parse_user_id(raw_user_id), parse_role(raw_role)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A login's email and password, parsed at the edge.

    ``email`` is None when it is not a valid address (``email_error`` says why):
    the attempt still counts, against the client's address only, and fails as
    any wrong credentials do. ``account`` is the address's :class:`AccountKey`
    (None with it), made with the attempt: every spelling of an address counts
    against the one account.
    """

    email: Email | None
    password: OfferedPassword
    email_error: InvalidInput | None = None
    account: AccountKey | None = field(init=False)

    def __post_init__(self) -> None:
        account = None if self.email is None else canonical_email(self.email)
        object.__setattr__(self, "account", account)


def parse_login(raw_email: str, raw_password: str, policy: PasswordPolicy) -> LoginAttempt:
    """The login attempt in a request; never raises (see :class:`LoginAttempt`)."""
    password = policy.offered(raw_password)
    try:
        return LoginAttempt(normalise_email(raw_email), password)
    except InvalidInput as err:
        return LoginAttempt(None, password, email_error=err)


def parse_name(raw: str, field: str) -> str:
    """A first or last name by Register's rules; errors name ``field``."""
    return _name(raw, field)


def parse_avatar(
    raw: str, field: str = "avatar", schemes: frozenset[str] = AVATAR_SCHEMES
) -> str | None:
    """An avatar by Register's rules (empty is None); errors name ``field``."""
    return _avatar(raw, field, schemes)


def parse_profile(
    first_name: str,
    last_name: str,
    avatar: str,
    avatar_schemes: frozenset[str] = AVATAR_SCHEMES,
) -> tuple[str, str, str | None]:
    """Names and an avatar checked as Register checks them; ``InvalidInput`` otherwise."""
    first, last = _name(first_name, "first_name"), _name(last_name, "last_name")
    return first, last, _avatar(avatar, schemes=avatar_schemes)
