"""ThrottleUseCase: an operator's or an admin's way to lift a login throttle."""

from __future__ import annotations

import structlog

from app.domain.ports import LoginThrottle
from app.domain.throttling import ThrottleTarget
from app.domain.users import Principal
from app.observability.tracing import traced
from app.usecases.factor_guard import FactorGuard

logger = structlog.get_logger(__name__)


class ThrottleUseCase:
    """Clearing the login throttle's state of one account and/or one address."""

    def __init__(self, throttle: LoginThrottle, guard: FactorGuard) -> None:
        self._throttle = throttle
        self._guard = guard

    @traced
    async def clear(self, target: ThrottleTarget) -> int:
        """Forget the target's failures and successful-login rates (not its known
        addresses); the number of counters removed. For the operator's command."""
        cleared = await self._throttle.clear(target.account, target.address_group)
        # The address is no secret; the account is named by neither email nor hash.
        logger.info(
            "login throttle cleared",
            account=target.account is not None,
            address=target.address_group,
            counters=cleared,
        )
        return cleared

    async def clear_as(self, caller: Principal, target: ThrottleTarget) -> int:
        """:meth:`clear` for an admin's session (``FactorGuard.admit``)."""
        await self._guard.admit(caller)
        return await self.clear(target)
