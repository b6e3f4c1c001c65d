"""The client's deadline, handed down to the stores as the bound of their waits."""

from __future__ import annotations

from typing import Any

from app.domain.deadlines import within
from app.grpc.interceptors import Behavior, Context, UnaryServerInterceptor


class DeadlineInterceptor(UnaryServerInterceptor):
    """Run each call under its client's deadline (``context.time_remaining()``).

    The adapters bound each store call by the smaller of their own timeout and
    the time left, so a call with a 200 ms deadline never waits for a pooled
    connection, or holds one, for longer than that.
    """

    async def intercept_unary(
        self, behavior: Behavior, request: Any, context: Context, method: str
    ) -> Any:
        with within(context.time_remaining()):
            return await behavior(request, context)
