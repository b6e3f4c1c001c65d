"""What the account use cases share: their ports, and the checks of an admin caller, a
password proved again and a changed user dropped from the cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

import structlog

from app.domain.clients import Client
from app.domain.errors import PermissionDenied, StoreUnavailable, WrongPassword
from app.domain.passwords import OfferedPassword
from app.domain.ports import (
    LoginThrottle,
    PasswordHasher,
    SessionMetrics,
    SessionStore,
    UserCache,
    UserRepository,
)
from app.domain.second_factor import TotpCode
from app.domain.second_factor_ports import FactorRepository
from app.domain.throttling import LimitedAction
from app.domain.users import Principal, canonical_email

if TYPE_CHECKING:
    from app.usecases.factor_guard import FactorGuard

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AccountPortSet:
    """The ports every use case on accounts works on: users, their cached copies,
    their sessions, hashing, the login throttle, the session metrics, the users'
    second factors and what the factor asks of these calls (``FactorGuard``).
    The composition root builds one and hands it to each of them."""

    users: UserRepository
    cache: UserCache
    sessions: SessionStore
    passwords: PasswordHasher
    throttle: LoginThrottle
    metrics: SessionMetrics
    factors: FactorRepository
    guard: FactorGuard


class AccountPorts:
    """A use case on accounts: the shared ports (:class:`AccountPortSet`) as its own
    attributes, and the caller's proof of itself before a sensitive change."""

    def __init__(self, ports: AccountPortSet) -> None:
        self._users = ports.users
        self._cache = ports.cache
        self._sessions = ports.sessions
        self._passwords = ports.passwords
        self._throttle = ports.throttle
        self._metrics = ports.metrics
        self._factors = ports.factors
        self._guard = ports.guard

    async def _confirm_caller(
        self, caller: Principal, current: OfferedPassword, code: TotpCode | None, client: Client
    ) -> None:
        """The caller proves itself again before a sensitive change: its ``current``
        password (:func:`confirm_password`), then, with a second factor, a current
        ``code`` (``FactorGuard.step_up``)."""
        await confirm_password(
            caller,
            current,
            client,
            users=self._users,
            passwords=self._passwords,
            throttle=self._throttle,
        )
        await self._guard.step_up(caller, code, client)


def require_admin(caller: Principal) -> None:
    """Refuse early from the session's copy; the repository decides again, in the change's
    transaction, from the caller's row as committed (see ``UserRepository``)."""
    if not caller.may_administer:
        raise PermissionDenied("an admin's session is required")


async def confirm_password(
    caller: Principal,
    current: OfferedPassword,
    client: Client,
    *,
    users: UserRepository,
    passwords: PasswordHasher,
    throttle: LoginThrottle,
) -> None:
    """Check the caller's ``current`` password, throttled as a login; ``WrongPassword``.

    As at login: a full hashing queue refuses at once (``ServerBusy``), the
    client's address has a rate (``Throttled``; the ChangePassword rate), the
    account's back-off applies, and a ``current`` longer than any valid password
    is refused without hashing.
    """
    passwords.check_capacity(client=client)
    await throttle.admit_action(LimitedAction.CHANGE_PASSWORD, client)
    account = canonical_email(caller.user.email)  # the throttle's key, as at login
    await throttle.admit(account, client)
    if current.too_long:
        raise WrongPassword()
    found = await users.get_with_password_hash(account)
    if found is None or not await passwords.verify(found[1], current.value, client=client):
        raise WrongPassword()
    await throttle.succeeded(account, client)


async def forget_cached(cache: UserCache, user_id: UUID) -> None:
    """Drop the user's cached copy; a cache that does not answer is logged."""
    try:
        await cache.delete(user_id)
    except StoreUnavailable as err:
        # The entry then lives out its TTL (cache.user_ttl_seconds).
        logger.warning("user cache invalidation failed", error=repr(err.__cause__))
