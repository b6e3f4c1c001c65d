"""Audited actions: who acted, and the network (not the address) they acted from."""

from __future__ import annotations

import pytest

from app.domain.events import EventType, source_network, user_role_changed
from app.domain.users import Role
from tests.unit.world import CLIENT, World


@pytest.mark.parametrize(
    ("address", "kept"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("::1", "::/48"),
        ("", ""),
        ("%5B::1%5D", ""),
        ("not an address", ""),
    ],
)
def test_only_the_network_of_a_source_address_is_kept(address, kept):
    assert source_network(address) == kept


async def test_an_admins_changes_name_the_admin_and_its_network():
    world = World()
    root = await world.register("root@example.com")
    admin = await world.users.set_role(
        root.id, Role.ADMIN, user_role_changed(root.id, Role.ADMIN, None), actor=None
    )
    user = await world.register("ada@example.com")
    await world.accounts.set_role(admin, user.id, Role.SERVICE, CLIENT)
    await world.accounts.disable(admin, user.id, CLIENT)
    await world.accounts.enable(admin, user.id, CLIENT)
    changes = [event for event in world.users.events if event.user_id == user.id][1:]
    assert [event.type for event in changes] == [
        EventType.USER_ROLE_CHANGED,
        EventType.USER_DISABLED,
        EventType.USER_ENABLED,
    ]
    for event in changes:
        assert event.data["actor_id"] == str(admin.user.id)
        assert event.data["source_address"] == "192.0.2.0/24"
