"""What the second factor asks of other calls: admin calls wait for enrolment where the
policy says so, and changes that would hand over an account take a current code."""

from __future__ import annotations

from app.domain.clients import Client
from app.domain.second_factor import InvalidCode, SecondFactorEnrolmentRequired, TotpCode
from app.domain.second_factor_ports import FactorRepository
from app.domain.users import FactorPolicy, Principal, User, canonical_email
from app.usecases.account_checks import require_admin
from app.usecases.factor_checks import FactorChecks


class FactorGuard:
    """The policy (``FactorPolicy``) and the step-up, asked by the use cases.

    Enrolment is read from the factor repository on each admin call rather than
    carried in the cached principal: the cached copy changes only with the users
    row, so an admin who just enrolled would wait for its refresh, and one whose
    factor was reset would keep administering until then. Admin calls are rare;
    the read is one primary-key lookup.
    """

    def __init__(self, factors: FactorRepository, checks: FactorChecks, policy: FactorPolicy):
        self._factors = factors
        self._checks = checks
        self._policy = policy

    async def admit(self, caller: Principal) -> None:
        """An active admin (``PermissionDenied``) who, if the policy asks it of their
        role, has an active factor (``SecondFactorEnrolmentRequired``).

        Decided on the session's copy and the factor as stored now; the repository
        decides the role again in the change's transaction (``UserRepository``).
        The factor is not locked with it: one removed meanwhile lets through at
        most the calls already admitted.
        """
        require_admin(caller)
        await self.require_enrolled(caller.user)

    async def require_enrolled(self, user: User) -> None:
        """``SecondFactorEnrolmentRequired`` when the policy holds ``user``'s admin calls
        back (for Register, whose caller is checked as a user)."""
        if not self._policy.applies_to(user):
            return
        if self._policy.holds_back(user, await self._factors.is_active(user.id)):
            raise SecondFactorEnrolmentRequired()

    async def step_up(self, caller: Principal, code: TotpCode | None, client: Client) -> None:
        """For a caller with an active factor, a current TOTP code: ``InvalidCode`` when
        it is missing or wrong (a wrong one is a guess, throttled and counted as at
        CompleteLogin, and used up when right). Nothing for a caller without one."""
        user = caller.user
        if not await self._factors.is_active(user.id):
            return
        if code is None:
            raise InvalidCode()
        await self._checks.guess(user.id, canonical_email(user.email), code, client)
