"""GetMe, the call on every request path of every other service, against its floor.

In one run, on one service instance, sequential calls from one client:

* **grpc floor**: ``grpc.health.v1.Health/Check`` — a gRPC round trip that
  touches no store;
* **redis floor**: one ``GETEX`` straight to Redis;
* **GetMe**: the real RPC — one Lua script (``EVALSHA``) that loads the
  session, checks its absolute lifetime, loads the user's principal (status,
  role, sessions epoch, freshness), slides the idle expiry and records when
  the session was last seen.

GetMe's cost is reported as a ratio to the two floors. Its Redis round trips
are counted on the client (the aim is one), and the commands Redis executes
for it from ``INFO commandstats`` (which counts a script's inner commands). It makes its
own database and Redis key prefix and removes both. ``BENCH_CALLS`` sets the
number of calls per measurement.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import RUN_ID, bench_settings, measure, percentile, running

from app.adapters.redis.bounded_client import RedisClient
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.observability.setup.logging import configure_logging
from tests.support.isolation import remove_run_data


async def redis_cost(
    redis: RedisClient, call: Callable[[], Awaitable[object]]
) -> tuple[list[str], int]:
    """The commands ``call`` sends to Redis (one per round trip: nothing here pipelines)
    and the number of commands Redis executes for them, scripts' inner ones included.
    """
    sent: list[str] = []
    send = redis.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return await send(*args, **options)

    before = await send("INFO", "commandstats")
    redis.execute_command = counted  # type: ignore[method-assign]
    try:
        await call()
    finally:
        redis.execute_command = send  # type: ignore[method-assign]
    after = await send("INFO", "commandstats")
    executed = sum(
        after[name]["calls"] - before.get(name, {"calls": 0})["calls"]
        for name in after
        if name != "cmdstat_info"
    )
    return sent, executed


async def main() -> None:
    configure_logging("WARNING", "console")
    settings = bench_settings()
    try:
        async with (
            running(settings) as application,
            grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel,
        ):
            stub = pb_grpc.UserServiceStub(channel)
            redis = application.redis
            email = f"bench-{RUN_ID}@example.com"
            password = "benchmark password"
            await stub.Register(
                pb.RegisterRequest(email=email, first_name="B", last_name="M", password=password)
            )
            login = await stub.Login(pb.LoginRequest(email=email, password=password))
            metadata = (("session_id", login.session_id),)
            health = health_pb2_grpc.HealthStub(channel)
            floor_key = f"{settings.redis.key_prefix}floor"
            await redis.set(floor_key, b"x" * 200)

            round_trips, executed = await redis_cost(
                redis, lambda: stub.GetMe(pb.GetMeRequest(), metadata=metadata)
            )

            results = {
                "grpc floor (Health/Check)": await measure(
                    lambda: health.Check(health_pb2.HealthCheckRequest())
                ),
                "redis floor (GETEX)": await measure(lambda: redis.getex(floor_key, ex=60)),
                "GetMe": await measure(lambda: stub.GetMe(pb.GetMeRequest(), metadata=metadata)),
            }
    finally:
        await remove_run_data(settings)

    print(f"GetMe benchmark: {len(results['GetMe'])} sequential calls a row, one client")
    print(f"{'':28} {'p50 µs':>9} {'p99 µs':>9} {'mean µs':>9}")
    for name, timings in results.items():
        print(
            f"{name:28} {percentile(timings, 0.5):9.0f} {percentile(timings, 0.99):9.0f}"
            f" {statistics.fmean(timings) * 1e6:9.0f}"
        )
    getme = percentile(results["GetMe"], 0.5)
    grpc_floor = percentile(results["grpc floor (Health/Check)"], 0.5)
    redis_floor = percentile(results["redis floor (GETEX)"], 0.5)
    print(f"GetMe p50 / grpc floor p50          = {getme / grpc_floor:.2f}x")
    print(f"GetMe p50 / (grpc + redis floor) p50 = {getme / (grpc_floor + redis_floor):.2f}x")
    print(f"Redis round trips of one GetMe       = {len(round_trips)} ({' '.join(round_trips)})")
    print(f"Redis commands executed for it       = {executed} (INFO commandstats)")


if __name__ == "__main__":
    asyncio.run(main())
