"""Profile changes as the domain parses them, and the profile use cases on fakes."""

from __future__ import annotations

import pytest

from app.domain.errors import InvalidInput, LastAdmin, Throttled, WrongPassword
from app.domain.events import EventType, user_role_changed
from app.domain.profiles import ProfileField, deleted_principal, parse_profile_changes
from app.domain.throttling import LimitedAction
from app.domain.users import Role, UserStatus
from tests.unit.world import CLIENT, PASSWORD, World

NAMES = {"first_name": "Grace", "last_name": "Hopper", "avatar": ""}


def test_without_a_mask_only_the_fields_that_are_set_change():
    changes = parse_profile_changes({**NAMES, "last_name": ""}, [])
    assert dict(changes.values) == {ProfileField.FIRST_NAME: "Grace"}


def test_a_masked_empty_avatar_clears_it_and_the_wildcard_names_every_field():
    assert dict(parse_profile_changes(NAMES, ["avatar"]).values) == {ProfileField.AVATAR: None}
    assert set(parse_profile_changes(NAMES, ["*"]).values) == set(ProfileField)


@pytest.mark.parametrize(
    ("requested", "mask", "message"),
    [
        (NAMES, ["first_name", "bogus"], "update_mask: unknown field paths: bogus"),
        (NAMES, ["uuid", "email"], "update_mask: cannot be changed by this update: email, uuid"),
        ({**NAMES, "role": "admin"}, [], "user.role: cannot be changed by this update"),
        ({"first_name": ""}, [], "update_mask: names no field to change"),
        ({"first_name": " "}, ["first_name"], "user.first_name: is required"),
    ],
)
def test_refusals_name_the_field(requested, mask, message):
    with pytest.raises(InvalidInput) as refused:
        parse_profile_changes(requested, mask)
    assert refused.value.public_message.startswith(message)


async def test_an_update_that_changes_nothing_writes_no_event():
    world = World()
    user = await world.register()
    caller = world.principal(user)
    same = parse_profile_changes({"first_name": user.first_name}, [])
    assert await world.profiles.update_profile(caller, same, CLIENT) == user
    assert EventType.USER_PROFILE_UPDATED not in [e.type for e in world.users.events]


async def test_delete_account_is_throttled_and_checked_as_change_password_is():
    world = World()
    user = await world.register()
    caller = world.principal(user)
    with pytest.raises(WrongPassword):
        await world.profiles.delete_account(caller, world.offered("not it"), CLIENT)
    assert world.throttle.actions[-1] == (LimitedAction.CHANGE_PASSWORD, CLIENT)
    world.throttle.refuse_with = Throttled(retry_after_seconds=5.0)
    with pytest.raises(Throttled):
        await world.profiles.delete_account(caller, world.offered(PASSWORD), CLIENT)
    assert user.id in world.users.rows


async def test_a_deleted_user_leaves_a_disabled_newer_principal_with_nothing_personal():
    world = World()
    user = await world.register()
    await world.profiles.delete_account(world.principal(user), world.offered(PASSWORD), CLIENT)
    stand_in = world.sessions.principals[user.id]
    assert (stand_in.status, stand_in.user.email, stand_in.user.first_name) == (
        UserStatus.DISABLED,
        "",
        "",
    )
    assert user.id not in world.users.rows and world.cache.users.get(user.id) is None


async def test_the_stand_in_is_newer_than_the_user_it_replaces():
    world = World()
    was = world.principal(await world.register())
    stand_in = deleted_principal(was)
    assert stand_in.version > was.version
    assert stand_in.sessions_epoch > was.sessions_epoch


async def test_the_last_admin_cannot_delete_its_account():
    world = World()
    user = await world.register("root@example.com")
    admin = await world.users.set_role(
        user.id, Role.ADMIN, user_role_changed(user.id, Role.ADMIN, None), actor=None
    )
    with pytest.raises(LastAdmin):
        await world.profiles.delete_account(admin, world.offered(PASSWORD), CLIENT)
    assert user.id in world.users.rows


def test_an_unknown_path_is_not_echoed_when_it_does_not_look_like_one():
    hostile = "x" * 10_000 + "\u202e"
    with pytest.raises(InvalidInput) as caught:
        parse_profile_changes({"first_name": "Ada"}, ["first_name", hostile, "bogus"])
    message = str(caught.value)
    assert hostile not in message and len(message) < 200
    assert "2 unknown field paths" in message
