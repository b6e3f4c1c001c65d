"""ListUsers' rules on the fakes: who may list, how pages follow, what a filter is."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.errors import InvalidInput, PermissionDenied
from app.domain.listing import PageSizes, UserFilter, parse_page_token, parse_user_filter
from app.domain.users import Principal, Role, User, UserStatus
from tests.unit.world import World

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def world() -> World:
    return World()


async def _stored(
    world: World,
    email: str,
    *,
    role: Role = Role.USER,
    status: UserStatus = UserStatus.ACTIVE,
    minute: int = 0,
) -> Principal:
    """A user as stored, with the role, status and creation time (minutes after START) given."""
    user = await world.register(email)
    principal, password_hash = world.users.rows[user.id]
    created = START + timedelta(minutes=minute)
    changed = dataclasses.replace(
        principal,
        user=dataclasses.replace(user, role=role, created_at=created, updated_at=created),
        status=status,
    )
    world.users.rows[user.id] = (changed, password_hash)
    return changed


async def _walk(world: World, caller: Principal, user_filter: UserFilter, size: int) -> list[User]:
    listed: list[User] = []
    token = None
    for _ in range(100):
        page = await world.listing.list_users(caller, user_filter, size, token)
        listed.extend(each.user for each in page.users)
        if not page.next_page_token:
            return listed
        token = parse_page_token(page.next_page_token)
    raise AssertionError("the pages did not end")


async def test_an_admin_walks_every_user_once_oldest_first(world):
    admin = await _stored(world, "root@example.com", role=Role.ADMIN, minute=0)
    others = [await _stored(world, f"u{n}@example.com", minute=10 - n) for n in range(7)]
    listed = await _walk(world, admin, UserFilter(), size=3)
    expected = sorted([admin, *others], key=lambda p: (p.user.created_at, p.user.id))
    assert [user.id for user in listed] == [p.user.id for p in expected]
    # One row more than the page is read: that is how the last page knows it is last.
    assert world.directory.limits == [4, 4, 4]


async def test_the_last_page_has_no_token_even_when_it_is_full(world):
    admin = await _stored(world, "root@example.com", role=Role.ADMIN)
    await _stored(world, "ada@example.com", minute=1)
    page = await world.listing.list_users(admin, UserFilter(), 2, None)
    assert len(page.users) == 2
    assert page.next_page_token == ""


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.USER, UserStatus.ACTIVE),
        (Role.SERVICE, UserStatus.ACTIVE),
        (Role.ADMIN, UserStatus.DISABLED),
    ],
)
async def test_only_an_active_admin_may_list(world, role, status):
    caller = await _stored(world, "caller@example.com", role=role, status=status)
    with pytest.raises(PermissionDenied):
        await world.listing.list_users(caller, UserFilter(), 10, None)
    assert world.directory.limits == []


async def test_a_token_is_checked_only_for_an_admin(world):
    caller = await _stored(world, "caller@example.com")
    with pytest.raises(PermissionDenied):
        await world.listing.list_users(caller, UserFilter(), 10, parse_page_token("forged"))


async def test_a_token_made_for_other_filters_is_refused(world):
    admin = await _stored(world, "root@example.com", role=Role.ADMIN)
    await _stored(world, "ada@example.com", minute=1)
    first = await world.listing.list_users(admin, UserFilter(), 1, None)
    with pytest.raises(InvalidInput) as caught:
        await world.listing.list_users(
            admin, UserFilter(role=Role.ADMIN), 1, parse_page_token(first.next_page_token)
        )
    assert caught.value.field == "page_token"


async def test_filters_select_by_prefix_role_status_and_creation_range(world):
    admin = await _stored(world, "root@example.com", role=Role.ADMIN, minute=0)
    ada = await _stored(world, "ada@example.com", minute=1)
    adam = await _stored(world, "adam@example.com", status=UserStatus.DISABLED, minute=2)
    bot = await _stored(world, "bot@example.com", role=Role.SERVICE, minute=3)

    async def ids(**fields: object) -> list[object]:
        raw: dict[str, object] = {"email_prefix": "", "role": "", "status": ""}
        raw.setdefault("created_from", None)
        raw.setdefault("created_before", None)
        raw.update(fields)
        listed = await _walk(world, admin, parse_user_filter(**raw), size=10)  # type: ignore[arg-type]
        return [user.id for user in listed]

    assert await ids(email_prefix="ADA") == [ada.user.id, adam.user.id]
    assert await ids(email_prefix="ada@") == [ada.user.id]
    assert await ids(role="service") == [bot.user.id]
    assert await ids(role="ADMIN") == [admin.user.id]
    assert await ids(status="disabled") == [adam.user.id]
    window = {
        "created_from": START + timedelta(minutes=1),
        "created_before": START + timedelta(minutes=3),
    }
    assert await ids(**window) == [ada.user.id, adam.user.id]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"role": "root"}, "role"),
        ({"status": "deleted"}, "status"),
        ({"email_prefix": "a\x00"}, "email_prefix"),
        ({"email_prefix": "a" * 255}, "email_prefix"),
        ({"created_from": START, "created_before": START}, "created_before"),
    ],
)
def test_a_bad_filter_names_its_field(fields, field):
    raw: dict[str, object] = {
        "email_prefix": "",
        "role": "",
        "status": "",
        "created_from": None,
        "created_before": None,
        **fields,
    }
    with pytest.raises(InvalidInput) as caught:
        parse_user_filter(**raw)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_two_spellings_of_a_prefix_are_one_filter():
    def prefix(raw: str) -> UserFilter:
        return parse_user_filter(
            email_prefix=raw, role="", status="", created_from=None, created_before=None
        )

    assert prefix(" ADA@Example") == prefix("ada@example")
    assert prefix("ADA").key() == prefix("ada").key()
    assert prefix("ada").key() != prefix("adb").key()


@pytest.mark.parametrize(
    ("requested", "size"), [(0, 50), (1, 1), (50, 50), (500, 500), (501, 500), (2**31 - 1, 500)]
)
def test_page_sizes_default_and_clamp(requested, size):
    assert PageSizes(default=50, maximum=500).size_of(requested) == size


def test_a_negative_page_size_is_invalid():
    with pytest.raises(InvalidInput) as caught:
        PageSizes().size_of(-1)
    assert caught.value.field == "page_size"


def test_an_overlong_token_is_refused_unread():
    assert parse_page_token("") is None
    with pytest.raises(InvalidInput) as caught:
        parse_page_token("x" * 1025)
    assert caught.value.field == "page_token"
