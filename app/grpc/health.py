"""The standard health service, SERVING only while PostgreSQL and Redis answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog
from grpc_health.v1 import health, health_pb2

from app.grpc.service_contract import SERVICE_NAME
from app.stoppable_loop import StoppableLoop

logger = structlog.get_logger(__name__)

Probe = Callable[[], Awaitable[object]]


class HealthReporter:
    """Probes the stores every ``interval`` seconds and publishes the verdict.

    The overall service (``""``) and ``userService.UserService`` are SERVING
    when every probe answered within ``timeout``, NOT_SERVING otherwise, and
    NOT_SERVING for good once :meth:`shutdown` was called. ``observe`` is told
    each probe's outcome (store name, answered) as it comes.
    """

    def __init__(
        self,
        probes: Sequence[tuple[str, Probe]],
        *,
        interval: float,
        timeout: float,
        observe: Callable[[str, bool], None] | None = None,
    ):
        self.servicer = health.aio.HealthServicer()
        self._probes = probes
        self._observe = observe
        self._interval = interval
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._healthy: bool | None = None
        self._failing: tuple[str, ...] = ()
        self._draining = False
        self._loop = StoppableLoop()

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """What the health service reports, for the HTTP ``/readyz`` (any thread may ask)."""
        if self._draining:
            return False, {"status": "draining"}
        if not self._healthy:
            return False, {"status": "not serving", "failing": list(self._failing)}
        return True, {"status": "serving"}

    async def check(self) -> bool:
        """Run every probe once, publish and return the verdict."""
        failed: list[str] = []
        for name, probe in self._probes:
            try:
                await asyncio.wait_for(probe(), self._timeout)
            except Exception as err:
                failed.append(name)
                logger.debug("health probe failed", store=name, error=type(err).__name__)
            if self._observe is not None:
                self._observe(name, name not in failed)
        healthy = not failed
        if healthy != self._healthy:
            (logger.info if healthy else logger.warning)(
                "health changed", serving=healthy, failing=failed
            )
        self._healthy, self._failing = healthy, tuple(failed)
        await self._publish(
            health_pb2.HealthCheckResponse.SERVING
            if healthy
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        return healthy

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.create_task(self._run(), name="health-probes")

    async def shutdown(self) -> None:
        """Stop probing (a probe in flight finishes first) and report NOT_SERVING."""
        self._draining = True
        self._loop.stop()
        if self._task is not None:
            await self._task
        await self.servicer.enter_graceful_shutdown()

    async def _run(self) -> None:
        """Probe every interval; :meth:`start` ran the first round."""
        await self._loop.pause(self._interval)
        await self._loop.run(self._probe_round)

    async def _probe_round(self) -> float:
        await self.check()
        return self._interval

    async def _publish(self, status: int) -> None:
        for service in ("", SERVICE_NAME):
            await self.servicer.set(service, status)
