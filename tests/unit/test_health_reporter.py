"""The health reporter: SERVING while every probe answers in time, NOT_SERVING otherwise and
for good after shutdown; probed every interval until then."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from grpc_health.v1 import health_pb2

from app.grpc.health import HealthReporter
from app.grpc.service_contract import SERVICE_NAME
from tests.support.client import eventually

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
INTERVAL = 0.005


class Store:
    """A probe that answers, fails or never answers, as the test says."""

    def __init__(self) -> None:
        self.mode = "answers"
        self.probes = 0

    async def __call__(self) -> object:
        self.probes += 1
        if self.mode == "fails":
            raise ConnectionError("refused")
        if self.mode == "hangs":
            await asyncio.Event().wait()
        return 1


def reporter(*stores: Store, interval: float = INTERVAL, **options: Any) -> HealthReporter:
    return HealthReporter(
        [(f"store {index}", store) for index, store in enumerate(stores)],
        interval=interval,
        timeout=0.05,
        **options,
    )


async def status(health: HealthReporter, service: str = "") -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    response = await health.servicer.Check(request, context=None)
    assert response is not None
    return int(response.status)


def becomes(health: HealthReporter, expected: int) -> Callable[[], Awaitable[bool]]:
    async def condition() -> bool:
        return await status(health) == expected

    return condition


async def test_both_services_are_serving_once_started_with_every_store_answering():
    health = reporter(Store(), Store())
    await health.start()
    try:
        assert await status(health) == SERVING
        assert await status(health, SERVICE_NAME) == SERVING
    finally:
        await health.shutdown()


async def test_a_failing_store_turns_it_not_serving_and_its_answer_serving_again():
    postgres, redis = Store(), Store()
    health = reporter(postgres, redis)
    await health.start()
    try:
        redis.mode = "fails"
        await eventually(becomes(health, NOT_SERVING))
        assert await status(health, SERVICE_NAME) == NOT_SERVING
        redis.mode = "answers"
        await eventually(becomes(health, SERVING))
    finally:
        await health.shutdown()


async def test_a_probe_that_does_not_answer_within_the_timeout_counts_as_failed():
    observed: list[tuple[str, bool]] = []
    slow, quick = Store(), Store()
    slow.mode = "hangs"
    health = reporter(quick, slow, observe=lambda name, answered: observed.append((name, answered)))
    assert await health.check() is False
    assert observed == [("store 0", True), ("store 1", False)]
    assert await status(health) == NOT_SERVING


async def test_the_stores_are_probed_again_every_interval():
    store = Store()
    health = reporter(store)
    await health.start()
    try:
        await eventually(lambda: _at_least(store, 3))
    finally:
        await health.shutdown()


async def test_shutdown_ends_a_long_interval_at_once_and_stays_not_serving():
    store = Store()
    health = reporter(store, interval=3600.0)
    await health.start()
    # Were the interval's wait not ended by the shutdown, it would take an hour.
    await asyncio.wait_for(health.shutdown(), 10)
    assert store.probes == 1
    assert await status(health) == NOT_SERVING
    assert await status(health, SERVICE_NAME) == NOT_SERVING
    assert await health.check() is True
    assert await status(health) == NOT_SERVING


async def _at_least(store: Store, probes: int) -> bool:
    return store.probes >= probes
