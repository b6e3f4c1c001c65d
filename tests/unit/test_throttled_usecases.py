"""Login and Register under the throttle, and bounded work at Login, on fakes."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from app.domain.clients import Client
from app.domain.errors import InvalidCredentials, ServerBusy, StoreUnavailable, Throttled
from app.domain.events import EventType
from app.domain.passwords import Password, PasswordPolicy
from app.domain.throttling import LimitedAction
from app.domain.users import Email, Registration, Role, User
from tests.unit.world import World

CLIENT = Client(address="192.0.2.7", user_agent="unit-test")
PASSWORD = "long enough password"
EMAIL = "grace@example.com"


class Service(World):
    """The use cases on fakes, with a password limit of 16 characters."""

    def __init__(self) -> None:
        super().__init__(password_policy=PasswordPolicy(max_length=16))
        self.cases = self.user_cases

    async def register(
        self, email: str = EMAIL, role: Role = Role.USER, caller: User | None = None
    ) -> User:
        registration = Registration(
            email=Email(email),
            first_name="Grace",
            last_name="Hopper",
            password=Password("right password"),
            role=role,
            avatar=None,
        )
        return await self.cases.register(registration, caller, CLIENT)

    def outbox_types(self) -> list[EventType]:
        return [event.type for event in self.outbox.events]


@pytest.fixture
def service() -> Service:
    return Service()


async def test_a_throttled_login_reads_nothing_and_hashes_nothing(service):
    await service.register()
    service.throttle.refuse_with = Throttled(3.0, action="login", scope="account")
    with pytest.raises(Throttled) as refused:
        await service.cases.login(service.attempt(EMAIL, "right password"), CLIENT)
    assert refused.value.retry_after_seconds == 3.0
    assert service.passwords.verifications == service.passwords.dummy_verifications == 0
    assert service.outbox.events == []  # not the first refusal of its block: no event


async def test_the_first_refusal_of_an_account_block_is_one_event_about_the_user(service):
    user = await service.register()
    service.throttle.refuse_with = Throttled(
        2.5, action="login", scope="account", first_refusal=True
    )
    with pytest.raises(Throttled):
        await service.cases.login(service.attempt(EMAIL.upper(), "wrong password"), CLIENT)
    [event] = service.outbox.events
    assert event.type is EventType.USER_LOGIN_THROTTLED
    assert event.user_id == user.id
    assert dict(event.data) == {
        "scope": "account",
        "email": EMAIL,
        "source_address": "192.0.2.0/24",
        "retry_after_seconds": "2.500",
    }


async def test_an_address_block_event_names_the_network_not_the_account(service):
    await service.register()
    service.throttle.refuse_with = Throttled(
        1.0, action="login", scope="address", first_refusal=True
    )
    with pytest.raises(Throttled):
        await service.cases.login(service.attempt(EMAIL, "wrong password"), CLIENT)
    [event] = service.outbox.events
    assert event.user_id is None
    assert "email" not in event.data
    # The network the block came from, as audited actions name theirs: not the address.
    assert event.data["source_address"] == "192.0.2.0/24"
    assert CLIENT.address not in str(event.data)


async def test_an_invalid_email_counts_against_the_address_only(service):
    with pytest.raises(InvalidCredentials):
        await service.cases.login(service.attempt("not an email", PASSWORD), CLIENT)
    assert service.throttle.admitted == [(None, CLIENT)]


async def test_a_password_longer_than_the_maximum_is_counted_and_refused_without_hashing(service):
    await service.register()
    with pytest.raises(InvalidCredentials):
        await service.cases.login(service.attempt(EMAIL, "x" * 17), CLIENT)
    assert service.throttle.admitted == [(EMAIL, CLIENT)]
    assert service.passwords.verifications == service.passwords.dummy_verifications == 0
    assert [event.data["reason"] for event in service.outbox.events] == ["password_too_long"]


async def test_a_wrong_password_is_not_reported_as_a_success_and_a_right_one_is(service):
    await service.register()
    with pytest.raises(InvalidCredentials):
        await service.cases.login(service.attempt(EMAIL, "wrong password"), CLIENT)
    assert service.throttle.succeeded_for == []
    await service.cases.login(service.attempt(EMAIL, "right password"), CLIENT)
    assert service.throttle.succeeded_for == [EMAIL]


async def test_register_passes_the_per_address_limit_before_hashing(service):
    await service.register()
    assert service.throttle.actions == [(LimitedAction.REGISTER, CLIENT)]
    service.throttle.refuse_with = Throttled(1.0, action="register", scope="address")
    with pytest.raises(Throttled):
        await service.register("other@example.com")
    assert service.passwords.hashes == 1
    assert len(service.users.rows) == 1


async def test_a_busy_hasher_refuses_login_and_register_before_any_other_work(service):
    await service.register()
    service.passwords.busy = True
    with pytest.raises(ServerBusy):
        await service.cases.login(service.attempt(EMAIL, "right password"), CLIENT)
    with pytest.raises(ServerBusy):
        await service.register("other@example.com")
    # Not counted by the throttle: no guess was checked, nothing was registered.
    assert service.throttle.admitted == []
    assert service.throttle.actions == [(LimitedAction.REGISTER, CLIENT)]


async def test_register_goes_on_unchecked_when_the_rate_store_does_not_answer(service):
    service.throttle.refuse_with = StoreUnavailable()
    with capture_logs() as logs:
        user = await service.register()
    assert user.email == EMAIL
    assert [entry["event"] for entry in logs] == [
        "registration rate not checked, its store is unavailable"
    ]


async def test_login_needs_the_throttle_and_fails_unavailable_without_it(service):
    await service.register()
    service.throttle.refuse_with = StoreUnavailable()
    with pytest.raises(StoreUnavailable):
        await service.cases.login(service.attempt(EMAIL, "right password"), CLIENT)
    assert service.passwords.verifications == 0


async def test_an_ipv6_address_block_event_keeps_only_the_48_network(service):
    service.throttle.refuse_with = Throttled(
        1.0, action="login", scope="address", first_refusal=True
    )
    client = Client(address="2001:db8:abcd:12:34::5", user_agent="unit-test")
    with pytest.raises(Throttled):
        await service.cases.login(service.attempt(EMAIL, "wrong password"), client)
    [event] = service.outbox.events
    assert event.data["source_address"] == "2001:db8:abcd::/48"


async def test_a_block_of_a_client_without_an_address_names_no_source(service):
    service.throttle.refuse_with = Throttled(
        1.0, action="login", scope="address", first_refusal=True
    )
    with pytest.raises(Throttled):
        await service.cases.login(service.attempt(EMAIL, "wrong password"), Client("", ""))
    [event] = service.outbox.events
    assert set(event.data) == {"scope", "retry_after_seconds"}
