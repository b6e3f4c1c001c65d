"""GetMe, the call on every request path of every other service, against its floor.

In one run, on one service instance, sequential calls from one client:

* **grpc floor**: ``grpc.health.v1.Health/Check`` — a gRPC round trip that
  touches no store;
* **redis floor**: one ``GETEX`` straight to Redis;
* **GetMe**: the real RPC (session lookup + sliding expiry).

GetMe's cost is reported as a ratio to the two floors, and the Redis commands
it sends are counted from ``INFO commandstats`` (the aim is one). It makes its
own database and Redis key prefix and removes both. ``BENCH_CALLS`` sets the
number of calls per measurement.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.adapters.postgres.database import drop_database
from app.bootstrap import build_application
from app.config import Settings
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc

CALLS = int(os.environ.get("BENCH_CALLS", "2000"))
RUN_ID = uuid.uuid4().hex[:10]


def bench_settings() -> Settings:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    dsn = urlunsplit(
        urlsplit(defaults.postgres.dsn.get_secret_value())._replace(
            path=f"/user_service_bench_{RUN_ID}"
        )
    )
    return Settings(
        grpc={"host": "127.0.0.1", "port": 0},  # type: ignore[arg-type]
        postgres={"dsn": dsn},  # type: ignore[arg-type]
        redis={"key_prefix": f"bench:{RUN_ID}:"},  # type: ignore[arg-type]
        logging={"level": "WARNING"},  # type: ignore[arg-type]
        metrics={"enabled": False},  # type: ignore[arg-type]
        events={"relay_enabled": False},  # type: ignore[arg-type]
    )


async def measure(call: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(min(200, CALLS)):  # warm-up
        await call()
    timings = []
    for _ in range(CALLS):
        started = time.perf_counter()
        await call()
        timings.append(time.perf_counter() - started)
    return timings


def p(timings: list[float], quantile: float) -> float:
    return sorted(timings)[int(quantile * (len(timings) - 1))] * 1e6


async def main() -> None:
    settings = bench_settings()
    application = await build_application(settings)
    await application.start()
    redis = application.redis
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
            stub = pb_grpc.UserServiceStub(channel)
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

            before = await redis.info("commandstats")
            await stub.GetMe(pb.GetMeRequest(), metadata=metadata)
            after = await redis.info("commandstats")
            sent = sum(
                after[name]["calls"] - before.get(name, {"calls": 0})["calls"]
                for name in after
                if name != "cmdstat_info"
            )

            results = {
                "grpc floor (Health/Check)": await measure(
                    lambda: health.Check(health_pb2.HealthCheckRequest())
                ),
                "redis floor (GETEX)": await measure(lambda: redis.getex(floor_key, ex=60)),
                "GetMe": await measure(lambda: stub.GetMe(pb.GetMeRequest(), metadata=metadata)),
            }
    finally:
        async for key in redis.scan_iter(match=f"{settings.redis.key_prefix}*"):
            await redis.delete(key)
        await application.stop(grace=1)
        await drop_database(settings.postgres.dsn.get_secret_value())

    print(f"GetMe benchmark: {CALLS} sequential calls per row, one client, one instance")
    print(f"{'':28} {'p50 µs':>9} {'p99 µs':>9} {'mean µs':>9}")
    for name, timings in results.items():
        print(
            f"{name:28} {p(timings, 0.5):9.0f} {p(timings, 0.99):9.0f}"
            f" {statistics.fmean(timings) * 1e6:9.0f}"
        )
    getme = p(results["GetMe"], 0.5)
    grpc_floor = p(results["grpc floor (Health/Check)"], 0.5)
    redis_floor = p(results["redis floor (GETEX)"], 0.5)
    print(f"GetMe p50 / grpc floor p50          = {getme / grpc_floor:.2f}x")
    print(f"GetMe p50 / (grpc + redis floor) p50 = {getme / (grpc_floor + redis_floor):.2f}x")
    print(f"Redis commands sent by one GetMe     = {sent}")


if __name__ == "__main__":
    asyncio.run(main())
