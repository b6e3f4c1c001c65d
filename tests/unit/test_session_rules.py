"""The session rules of the domain on plain values (the stores: tests/contract)."""

from __future__ import annotations

import base64
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.sessions import (
    ROUTE_SEPARATOR,
    SessionEndReason,
    SessionTimes,
    ended_by_principal,
    ending,
    is_listed,
    new_session_id,
    over_cap,
    replaces_principal,
    session_owner,
)
from app.domain.users import Principal, Role, User, UserStatus

LOGIN = datetime(2026, 1, 1, tzinfo=UTC)
ACTIVE = Principal(
    User(uuid.uuid4(), "a@example.com", "A", "B", Role.USER, None, LOGIN, LOGIN),
    UserStatus.ACTIVE,
    version=1,
    sessions_epoch=2,
)
DISABLED = dataclasses.replace(ACTIVE, status=UserStatus.DISABLED, sessions_epoch=3)


def test_the_idle_deadline_slides_with_use_but_never_past_the_absolute_expiry():
    times = SessionTimes.opened(LOGIN, timedelta(hours=1))
    assert times.idle_deadline(timedelta(minutes=10)) == LOGIN + timedelta(minutes=10)
    late = times.touched(LOGIN + timedelta(minutes=55))
    assert late.idle_deadline(timedelta(minutes=10)) == LOGIN + timedelta(hours=1)


def test_a_session_ends_first_for_its_lifetime_then_for_its_user():
    times = SessionTimes.opened(LOGIN, timedelta(hours=1))
    later = LOGIN + timedelta(minutes=1)
    assert ending(times, 2, ACTIVE, later) is None
    assert ending(times, 2, None, later) is None
    assert ending(times, 1, ACTIVE, later) is SessionEndReason.REVOKED
    assert ending(times, 2, DISABLED, LOGIN + timedelta(hours=1)) is SessionEndReason.LIFETIME


def test_a_disabled_user_ends_sessions_as_disabled_whatever_the_epoch():
    assert ended_by_principal(DISABLED, 3) is SessionEndReason.DISABLED
    assert ended_by_principal(DISABLED, 0, SessionEndReason.PASSWORD_CHANGE) is (
        SessionEndReason.DISABLED
    )


def test_an_epoch_moved_ends_older_sessions_for_the_reason_it_moved():
    bumped = SessionEndReason.PASSWORD_CHANGE
    assert ended_by_principal(ACTIVE, 1, bumped) is bumped
    assert ended_by_principal(ACTIVE, 2, bumped) is None


def test_lists_skip_sessions_past_their_lifetime_or_of_an_older_epoch():
    times = SessionTimes.opened(LOGIN, timedelta(hours=1))
    assert is_listed(times, 2, 2, LOGIN)
    assert not is_listed(times, 1, 2, LOGIN)
    assert not is_listed(times, 2, 2, LOGIN + timedelta(hours=1))


def test_the_cap_and_principal_versions():
    assert [over_cap(count, 2) for count in (0, 2, 3, 5)] == [0, 0, 1, 3]
    assert replaces_principal(None, 1)
    assert replaces_principal(3, 3)
    assert not replaces_principal(4, 3)


def test_a_new_session_id_is_a_256_bit_secret_then_its_users_route() -> None:
    user_id = uuid.uuid4()
    session_id = new_session_id(user_id)
    secret, route = session_id.split(ROUTE_SEPARATOR)
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert route == user_id.hex
    assert session_owner(session_id) == user_id
    assert new_session_id(user_id) != session_id


@pytest.mark.parametrize(
    "session_id",
    [
        "43-characters-of-an-id-issued-before-routes",  # no route
        "e0a3c1b2-5d4f-4a8e-9c7b-1f2e3d4c5b6a",  # a Go service id, a UUID
        "secret.not-hex-not-hex-not-hex-not-hex-",
        "secret.0123",
        "",
    ],
)
def test_an_id_without_a_well_formed_route_names_no_user(session_id: str) -> None:
    assert session_owner(session_id) is None
