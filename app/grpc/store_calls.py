"""The edge of every store call: the client's deadline handed down, a store's failure logged."""

from __future__ import annotations

from typing import Any

import structlog

from app.domain.deadlines import within
from app.domain.errors import StoreFault, StoreUnavailable
from app.grpc.context import Context
from app.grpc.layers import Behavior, UnaryEdgeLayer

logger = structlog.get_logger(__name__)


class StoreCallLayer(UnaryEdgeLayer):
    """Run each call under its client's deadline; log the store that failed one.

    The adapters bound each store call by the smaller of their own timeout and
    the time left (``context.time_remaining()``), so a call with a 200 ms
    deadline never waits for a pooled connection, or holds one, for longer
    than that. A call that ends in ``StoreUnavailable`` gets one warning line
    naming the store and the class of its failure (``store=redis
    error=TimeoutError``, or ``error="known down"`` when it failed fast),
    never an address or a message; the error table then makes it UNAVAILABLE.
    One that ends in ``StoreFault`` (a store refused a command as wrong: a
    bug) gets an error line with the library's error and its traceback; the
    table makes it INTERNAL. Failures a use case absorbs (a cache read) are
    logged where absorbed.
    """

    async def intercept_unary(
        self, behavior: Behavior, request: Any, context: Context, method: str
    ) -> Any:
        try:
            with within(context.time_remaining()):
                return await behavior(request, context)
        except StoreUnavailable as err:
            logger.warning(
                "store unavailable", rpc_method=method, store=err.store, error=err.reason
            )
            raise
        except StoreFault as err:
            logger.error(
                "store refused a command",
                rpc_method=method,
                store=err.store,
                error=err.reason,
                exc_info=err.__cause__,
            )
            raise
