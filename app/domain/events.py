"""User events: what happened to a user, as other services learn of it.

An :class:`Event` is an immutable envelope: a unique id (consumers deduplicate
on it), a type, when it happened, whose it is, a small ``data`` payload and the
W3C ``traceparent`` of the request that caused it. No event ever carries a
password, a password hash or a session id. The factories below are the only
way the service makes events, so what each type carries is stated once, here.
The ``traceparent`` is left empty by them: the adapter that writes an event
(the outbox, the session store) stamps the request's trace context on it.
"""

from __future__ import annotations

import enum
import ipaddress
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from uuid import UUID

from app.domain.clients import Client
from app.domain.sessions import SessionEndReason
from app.domain.users import NewUser, Role, User


class EventType(enum.StrEnum):
    USER_REGISTERED = "user.registered"
    USER_LOGGED_IN = "user.logged_in"
    USER_LOGGED_OUT = "user.logged_out"
    USER_LOGIN_FAILED = "user.login_failed"
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 (an event name)
    USER_ROLE_CHANGED = "user.role_changed"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    SESSION_REVOKED = "session.revoked"
    USER_LOGIN_THROTTLED = "user.login_throttled"
    USER_PROFILE_UPDATED = "user.profile_updated"
    USER_DELETED = "user.deleted"
    USER_MFA_ENABLED = "user.mfa_enabled"
    USER_MFA_DISABLED = "user.mfa_disabled"
    USER_RECOVERY_CODE_USED = "user.recovery_code_used"
    USER_MFA_RESET = "user.mfa_reset"
    USER_PASSWORD_RESET_REQUESTED = "user.password_reset_requested"  # noqa: S105 (an event name)
    USER_PASSWORD_RESET = "user.password_reset"  # noqa: S105 (an event name)
    USER_EMAIL_VERIFIED = "user.email_verified"
    USER_EMAIL_CHANGED = "user.email_changed"


class LoginFailure(enum.StrEnum):
    """Why a login failed; for the audit log only, never shown to the client."""

    INVALID_EMAIL = "invalid_email"
    UNKNOWN_EMAIL = "unknown_email"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a reason, not a password)
    DISABLED = "disabled"
    PASSWORD_TOO_LONG = "password_too_long"  # noqa: S105 (refused without hashing)


# How much of a source address is kept: the network, as analytics tools
# anonymise addresses; enough to tell a country, a provider or an office, not a
# household or a device.
_IPV4_KEPT_BITS = 24
_IPV6_KEPT_BITS = 48


def source_network(address: str) -> str:
    """The network of ``address`` kept in audit events: IPv4 /24, IPv6 /48; "" if unknown.

    An IPv4-mapped IPv6 address counts as its IPv4 address.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    bits = _IPV4_KEPT_BITS if parsed.version == 4 else _IPV6_KEPT_BITS
    return str(ipaddress.ip_network((parsed, bits), strict=False))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did an audited action, and from where: the acting user's id and the
    network of the client's address (:func:`source_network`)."""

    user_id: UUID
    source_address: str

    @classmethod
    def of(cls, user_id: UUID, client: Client) -> Actor:
        return cls(user_id, source_network(client.address))

    def data(self) -> dict[str, str]:
        """The event data that names it: ``actor_id``, and ``source_address`` when known."""
        data = {"actor_id": str(self.user_id)}
        if self.source_address:
            data["source_address"] = self.source_address
        return data


def _acted(actor: Actor | None, **data: str) -> dict[str, str]:
    return {**data, **(actor.data() if actor is not None else {})}


def _sourced(client: Client, **data: str) -> dict[str, str]:
    """``data`` with the client's ``source_address`` (its network) when it is known."""
    network = source_network(client.address)
    return {**data, "source_address": network} if network else dict(data)


def _frozen(data: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(data))


@dataclass(frozen=True, slots=True)
class Event:
    """The envelope every event travels in, whatever the broker."""

    id: UUID
    type: EventType
    occurred_at: datetime
    user_id: UUID | None
    data: Mapping[str, str] = field(default_factory=dict)
    traceparent: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _frozen(self.data))


def _event(event_type: EventType, user_id: UUID | None, data: Mapping[str, str]) -> Event:
    return Event(
        id=uuid.uuid4(),
        type=event_type,
        occurred_at=datetime.now(UTC),
        user_id=user_id,
        data=data,
    )


def user_registered(new_user: NewUser) -> Event:
    """A registration, about the user (whose id the domain made) about to be stored."""
    return _event(
        EventType.USER_REGISTERED,
        new_user.id,
        {"email": new_user.email, "role": new_user.role.value},
    )


def user_logged_in(user: User) -> Event:
    return _event(EventType.USER_LOGGED_IN, user.id, {})


def user_logged_out(client: Client) -> Event:
    """A logout, whose user the session store states: see ``SessionStore.delete``.

    Its actor is that user; the data has only the ``source_address``.
    """
    return _event(EventType.USER_LOGGED_OUT, None, _sourced(client))


def user_login_failed(
    reason: LoginFailure,
    *,
    email: str | None,
    user_id: UUID | None,
) -> Event:
    """A failed login; ``email`` only when it was a valid address (never the password)."""
    data = {"reason": reason.value}
    if email is not None:
        data["email"] = email
    return _event(EventType.USER_LOGIN_FAILED, user_id, data)


# The changes below carry their ``actor`` (None: the operator's command line
# or the service itself, as when a session outlives its lifetime).


def user_password_changed(user_id: UUID, actor: Actor) -> Event:
    return _event(EventType.USER_PASSWORD_CHANGED, user_id, _acted(actor))


def user_role_changed(user_id: UUID, role: Role, actor: Actor | None) -> Event:
    return _event(EventType.USER_ROLE_CHANGED, user_id, _acted(actor, role=role.value))


def user_disabled(user_id: UUID, actor: Actor) -> Event:
    return _event(EventType.USER_DISABLED, user_id, _acted(actor))


def user_enabled(user_id: UUID, actor: Actor) -> Event:
    return _event(EventType.USER_ENABLED, user_id, _acted(actor))


def session_revoked(reason: SessionEndReason, actor: Actor | None = None) -> Event:
    """The template of the ``session.revoked`` events of one ending.

    The session store completes one event per session it ends, atomically with
    the ending: its own id (derived from this one), the session's user, and
    ``data``: this template's, with the ``reason`` of that ending and the
    session's ``handle`` (never its id).
    """
    return _event(EventType.SESSION_REVOKED, None, _acted(actor, reason=reason.value))


def user_login_throttled(
    *,
    scope: str,
    email: str | None,
    client: Client,
    user_id: UUID | None,
    retry_after_seconds: float,
) -> Event:
    """Logins on an account (``scope`` ``account``) or from an address were blocked.

    Made once per block, at its first refused attempt, not for every refusal.
    The client is named by its ``source_address`` (:func:`source_network`), as
    audited actions are: the event says where a block came from, not who is there.
    """
    data = _sourced(client, scope=scope, retry_after_seconds=f"{retry_after_seconds:.3f}")
    if email is not None:
        data["email"] = email
    return _event(EventType.USER_LOGIN_THROTTLED, user_id, data)


# The keys of event data that say something about a person beyond their user
# id: what erasure takes out of their stored events. A factory that puts a new
# such key in ``data`` lists it here.
PERSONAL_DATA_KEYS = frozenset(
    {"email", "previous_email", "source_address", "first_name", "last_name", "avatar"}
)


def user_profile_updated(user_id: UUID, fields: Collection[str], actor: Actor) -> Event:
    """Names or avatar changed: ``fields`` names which (comma-separated, sorted), never
    their values."""
    return _event(
        EventType.USER_PROFILE_UPDATED, user_id, _acted(actor, fields=",".join(sorted(fields)))
    )


def user_deleted(user_id: UUID, actor: Actor | None) -> Event:
    """The user and their personal data were erased; the data holds nothing of the person.

    An admin's deletion names the admin and their network; a user's own names
    the user by id only (their network would be personal data of the person
    erased): ``Actor(user_id, "")``.
    """
    return _event(EventType.USER_DELETED, user_id, _acted(actor))


# The second factor's events name no secret and no code: only who, from where,
# and (recovery codes) how many are left.


def user_mfa_enabled(user_id: UUID, actor: Actor) -> Event:
    return _event(EventType.USER_MFA_ENABLED, user_id, _acted(actor))


def user_mfa_disabled(user_id: UUID, actor: Actor) -> Event:
    return _event(EventType.USER_MFA_DISABLED, user_id, _acted(actor))


def user_mfa_reset(user_id: UUID, actor: Actor) -> Event:
    """An admin removed the user's factor (the actor is the admin, never the user)."""
    return _event(EventType.USER_MFA_RESET, user_id, _acted(actor))


def user_recovery_code_used(user_id: UUID, actor: Actor) -> Event:
    return _event(EventType.USER_RECOVERY_CODE_USED, user_id, _acted(actor))


# Recovery's events carry no token and no digest: only who, and from where.


def user_password_reset_requested(user_id: UUID, client: Client) -> Event:
    """A reset link was sent to a known, active account (never made for others)."""
    return _event(EventType.USER_PASSWORD_RESET_REQUESTED, user_id, _sourced(client))


def user_password_reset(user_id: UUID, client: Client) -> Event:
    """The password was replaced through a reset link; every session ended."""
    return _event(EventType.USER_PASSWORD_RESET, user_id, _sourced(client))


def user_email_verified(user_id: UUID) -> Event:
    """The user proved their current address is theirs; the address is not repeated
    (the user's id names it, and it stays out of one more stored event)."""
    return _event(EventType.USER_EMAIL_VERIFIED, user_id, {})


def user_email_changed(user_id: UUID, previous_email: str, email: str) -> Event:
    """The user's address changed (verified): consumers that keep a copy of the address
    need both; erasure takes both out (``PERSONAL_DATA_KEYS``)."""
    return _event(
        EventType.USER_EMAIL_CHANGED, user_id, {"previous_email": previous_email, "email": email}
    )
