"""ThrottleUseCase: an operator's or an admin's way to lift a login throttle."""

from __future__ import annotations

import structlog

from app.domain.errors import PermissionDenied
from app.domain.ports import LoginThrottle
from app.domain.throttling import ThrottleTarget
from app.domain.users import Principal, Role
from app.observability.tracing import traced

logger = structlog.get_logger(__name__)


class ThrottleUseCase:
    """Clearing the login throttle's state of one account and/or one address."""

    def __init__(self, throttle: LoginThrottle) -> None:
        self._throttle = throttle

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
        """:meth:`clear` for an admin's session; ``PermissionDenied`` for anyone else."""
        if caller.user.role is not Role.ADMIN:
            raise PermissionDenied("an admin's session is required")
        return await self.clear(target)
