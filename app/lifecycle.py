"""The processes' lifecycle: start, drain and stop the service; run an events loop until stopped.

:mod:`app.bootstrap` builds these; the entry points (:mod:`app.entrypoints`)
run them until a signal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Protocol

import grpc
import structlog

from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.redis.bounded_client import RedisClient
from app.adapters.store_states import StoreStates
from app.config import Settings
from app.domain.ports import Clock, IdSource, PasswordHasher
from app.grpc.health import HealthReporter
from app.grpc.server import listen_address
from app.http.server import HttpServer
from app.observability.setup.telemetry import Telemetry
from app.usecases.relay import OutboxRelay

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Resources:
    """A process's open resources; valid until the exit stack that opened them closes.

    ``passwords`` and ``login_root`` (the root of the login throttle's keys)
    are None when the process asked for no hashing (the events processes).
    ``cache_redis`` is ``redis`` unless ``cache.redis_url`` is set.
    """

    settings: Settings
    telemetry: Telemetry
    states: StoreStates
    pool: BoundedPool
    redis: RedisClient
    cache_redis: RedisClient
    passwords: PasswordHasher | None
    login_root: bytes | None
    clock: Clock
    ids: IdSource


@dataclass
class Application:
    """The service (its gRPC and HTTP ports) over its resources; ``closing`` closes those
    after the drain."""

    server: grpc.aio.Server
    port: int
    health: HealthReporter
    resources: Resources
    closing: AsyncExitStack
    relay: OutboxRelay | None = None
    courier: EventLoop | None = None
    http: HttpServer | None = None
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _loop_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    @property
    def telemetry(self) -> Telemetry:
        return self.resources.telemetry

    @property
    def pool(self) -> BoundedPool:
        return self.resources.pool

    @property
    def redis(self) -> RedisClient:
        return self.resources.redis

    @property
    def passwords(self) -> PasswordHasher:
        """The hasher serving the calls (the service always opens one)."""
        assert self.resources.passwords is not None
        return self.resources.passwords

    async def start(self) -> None:
        self.telemetry.report_readiness(self.health.readiness)
        self.telemetry.start()
        await self.health.start()
        await self.server.start()
        if self.http is not None:
            await self.http.start()
        for name, loop in self._loops():
            self._loop_tasks.append(asyncio.create_task(loop.run(), name=name))
        logger.info("serving", **self._addresses())

    def _addresses(self) -> dict[str, str]:
        """Where each port listens, ``host:port`` as a client dials it (the ports that are on)."""
        settings = self.settings
        listening = {"grpc": listen_address(settings.grpc.host, self.port)}
        if self.http is not None:
            listening["http"] = listen_address(self.http.host, self.http.port)
        if self.metrics_port is not None:
            listening["metrics"] = listen_address(settings.metrics_host, self.metrics_port)
        return listening

    async def serve_until(
        self, stop: asyncio.Event, started: Callable[[], None] | None = None
    ) -> None:
        """Start, serve until ``stop`` is set, then drain and stop.

        ``started`` is called once serving (unless ``stop`` was already set).
        """
        await self.start()
        try:
            if not stop.is_set():
                if started is not None:
                    started()
                await stop.wait()
        finally:
            await self.stop()

    def _loops(self) -> list[tuple[str, EventLoop]]:
        """The loops the service runs beside serving (the outbox relay, the courier)."""
        loops = {"outbox-relay": self.relay, "courier": self.courier}
        return [(name, loop) for name, loop in loops.items() if loop is not None]

    @property
    def http_port(self) -> int | None:
        """Where the HTTP (Connect) port listens (None when it is off)."""
        return None if self.http is None else self.http.port

    @property
    def metrics_port(self) -> int | None:
        """Where ``/metrics`` is served (None when metrics are off)."""
        return self.telemetry.metrics_port

    async def stop(self, grace: float | None = None, drain: float | None = None) -> None:
        """Drain, stop accepting, let in-flight calls finish within ``grace``, close the pools.

        Health turns NOT_SERVING first and the server keeps serving for ``drain``
        seconds (``grpc.drain_seconds``), so balancers move traffic away before
        the port closes. Calls gRPC has received but not yet handed to the
        service when the server stops are cancelled by gRPC core whatever the
        grace; the drain lets those be picked up and served.
        """
        if self._stopped.is_set():
            return
        self._stopped.set()
        grpc_settings = self.settings.grpc
        grace = grpc_settings.grace_period_seconds if grace is None else grace
        drain = grpc_settings.drain_seconds if drain is None else drain
        logger.info("shutting down", drain_seconds=drain, grace_seconds=grace)
        await self.health.shutdown()
        if drain > 0:
            await asyncio.sleep(drain)
        stopping = [self.server.stop(grace)]
        if self.http is not None:
            stopping.append(self.http.stop(grace))
        await asyncio.gather(*stopping)
        for _, loop in self._loops():
            loop.stop()
        await asyncio.gather(*self._loop_tasks)
        await self.closing.aclose()
        logger.info("stopped")


class EventLoop(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class EventsProcess:
    """A process running one events loop (the relay, or a consumer) until stopped."""

    loop: EventLoop
    resources: Resources
    closing: AsyncExitStack

    async def run(self) -> None:
        """Run the loop until :meth:`stop`, then close the resources."""
        telemetry = self.resources.telemetry
        try:
            telemetry.start()
            logger.info("events process started", metrics_port=telemetry.metrics_port)
            await self.loop.run()
        finally:
            await self.closing.aclose()

    def stop(self) -> None:
        self.loop.stop()
