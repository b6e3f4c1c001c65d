"""The use cases on the in-memory fakes, built by the composition root's ``build_use_cases``."""

from __future__ import annotations

from app.bootstrap import Ports, build_use_cases
from app.bootstrap.recovery import RecoveryPorts
from app.bootstrap.second_factor import SecondFactorPorts
from app.bootstrap.use_cases import VerificationPorts
from app.domain.clients import Client
from app.domain.passwords import OfferedPassword, Password, PasswordPolicy
from app.domain.users import (
    Email,
    FactorPolicy,
    LoginAttempt,
    Principal,
    Registration,
    Role,
    User,
    parse_login,
)
from tests.unit.fakes import (
    FakeCache,
    FakeClock,
    FakeDeviceTokens,
    FakeDirectory,
    FakeIds,
    FakeMetrics,
    FakeOutbox,
    FakePageTokens,
    FakePasswords,
    FakeSessions,
    FakeStores,
    FakeThrottle,
    FakeUsers,
)
from tests.unit.recovery_fakes import FakeResets
from tests.unit.second_factor_fakes import FakeCipher, FakeFactors, FakeTickets
from tests.unit.verification_fakes import FakeVerifications

NO_FACTOR_POLICY = FactorPolicy(frozenset())
CLIENT = Client(address="192.0.2.1", user_agent="unit-test")

PASSWORD = "long enough password"


class World:
    """Every use case over one set of fakes."""

    def __init__(
        self,
        *,
        cache_broken: bool = False,
        password_policy: PasswordPolicy | None = None,
        # The admins of most tests have no factor; the policy's own tests turn it on.
        factor_policy: FactorPolicy = NO_FACTOR_POLICY,
        verification_required: bool = False,
    ) -> None:
        self.policy = password_policy or PasswordPolicy()
        self.users = FakeUsers()
        self.cache = FakeCache(broken=cache_broken)
        self.passwords = FakePasswords()
        self.outbox = FakeOutbox()
        self.throttle = FakeThrottle()
        self.metrics = FakeMetrics()
        self.stores = FakeStores()
        self.devices = FakeDeviceTokens()
        self.clock = FakeClock()
        self.sessions = FakeSessions(clock=self.clock)
        self.ids = FakeIds()
        self.directory = FakeDirectory(self.users)
        self.page_tokens = FakePageTokens()
        self.factors = FakeFactors()
        self.cipher = FakeCipher()
        self.tickets = FakeTickets()
        self.resets = FakeResets(self.users)
        self.verifications = FakeVerifications(self.users)
        use_cases = build_use_cases(
            Ports(
                users=self.users,
                cache=self.cache,
                sessions=self.sessions,
                passwords=self.passwords,
                outbox=self.outbox,
                throttle=self.throttle,
                metrics=self.metrics,
                stores=self.stores,
                devices=self.devices,
                clock=self.clock,
                ids=self.ids,
                directory=self.directory,
                page_tokens=self.page_tokens,
                second_factor=SecondFactorPorts(
                    self.factors, self.cipher, self.tickets, policy=factor_policy
                ),
                recovery=RecoveryPorts(self.resets, policy=self.policy),
                verification=VerificationPorts(
                    self.verifications, required_for_login=verification_required
                ),
            ),
        )
        self.user_cases = use_cases.users
        self.session_cases = use_cases.sessions
        self.accounts = use_cases.accounts
        self.throttling = use_cases.throttling
        self.listing = use_cases.listing
        self.profiles = use_cases.profiles
        self.second_factor = use_cases.second_factor
        self.login_completion = use_cases.login_completion
        self.recovery = use_cases.recovery
        self.verification = use_cases.verification

    async def register(
        self, email: str = "ada@example.com", role: Role = Role.USER, caller: User | None = None
    ) -> User:
        registration = Registration(
            email=Email(email),
            first_name="Ada",
            last_name="Lovelace",
            password=Password(PASSWORD),
            role=role,
            avatar=None,
        )
        return await self.user_cases.register(registration, caller, CLIENT)

    def attempt(self, email: str, password: str = PASSWORD) -> LoginAttempt:
        """A login as the edge parses it, under this world's password policy."""
        return parse_login(email, password, self.policy)

    def offered(self, password: str) -> OfferedPassword:
        """A current password as the edge parses it."""
        return self.policy.offered(password)

    def principal(self, user: User) -> Principal:
        """The user as stored now (status, version, epoch)."""
        return self.users.rows[user.id][0]
