"""Redis capacity, measured: memory per session and per user, commands, round trips and CPU per RPC.

    python bench/bench_redis_capacity.py          # make bench runs it
    make bench-smoke                              # its short form (CI), 10 users

The service runs as production runs it (``python -m app serve``, the relay on)
on a throwaway ``redis-server`` of its own, so Redis's counters see this
service only. ``USERS`` users register, log in (one session each), call GetMe
``GETME_PER_USER`` times each and log in again (a second session each);
sequential calls through a real gRPC channel. Around each phase the harness
reads ``INFO commandstats`` (commands), ``INFO stats``
``total_reads_processed`` (round trips: each read event is one request or
one pipeline), ``INFO cpu`` (Redis's CPU) and ``/proc`` (the service
process's CPU, its hashing threads included), and divides by the calls.

Memory: ``MEMORY USAGE`` of every key the service wrote, by kind, and
``used_memory`` before and after the sessions were made (what a session
really costs, the keyspace's own overhead included). Sessions per GB follow.

Processes one Redis node keeps busy, per RPC: a service process spends S of
CPU per call, Redis R; one process can give at most one core to the event
loop (S: its calls per second at most 1/S), one Redis node does at most 1/R
calls per second (one thread); so one node serves S / R processes of that
RPC at full speed. A cluster of three masters with keys spread evenly: three
times that.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import grpc
from cpu import cpu_seconds
from harness import bench_settings
from redis.asyncio import Redis
from soak import production_service

from app.adapters.redis.bounded_client import RedisClient
from app.config import Settings
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.observability.setup.logging import configure_logging
from tests.support.client import login, register, session_metadata
from tests.support.isolation import remove_run_data
from tests.support.redis_cluster import ThrowawayRedisCluster
from tests.support.throwaway import ThrowawayRedis

USERS = int(os.environ.get("BENCH_CAPACITY_USERS", "300"))
GETME_PER_USER = 5
GIGABYTE = 1024**3
# Commands fewer than this per call are background (health checks, the relay's polls).
NOISE_PER_CALL = 0.05


@dataclass(frozen=True)
class Counters:
    """Redis's counters and the service's CPU at one moment."""

    commands: dict[str, int]
    round_trips: int
    redis_cpu: float
    service_cpu: float


@dataclass(frozen=True)
class PerCall:
    rpc: str
    calls: int
    commands: dict[str, float]
    round_trips: float
    redis_cpu_us: float
    service_cpu_us: float

    @property
    def processes_per_node(self) -> float:
        return self.service_cpu_us / self.redis_cpu_us if self.redis_cpu_us else float("inf")


@dataclass(frozen=True)
class Deployment:
    """Where the service's keys live: one node, or a cluster's masters (counted together)."""

    name: str
    masters: list[Redis]
    keys: RedisClient
    variables: dict[str, str]

    async def aclose(self) -> None:
        for client in {*self.masters, self.keys}:
            await client.aclose()


async def counters(deployment: Deployment, service_pid: int) -> Counters:
    """The masters' counters summed, and the service's CPU."""
    commands: dict[str, int] = defaultdict(int)
    round_trips, redis_cpu = 0, 0.0
    for node in deployment.masters:
        for name, row in (await node.info("commandstats")).items():
            commands[name.removeprefix("cmdstat_")] += int(row["calls"])
        round_trips += int((await node.info("stats"))["total_reads_processed"])
        cpu = await node.info("cpu")
        redis_cpu += float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    return Counters(dict(commands), round_trips, redis_cpu, cpu_seconds(service_pid))


async def per_call(
    deployment: Deployment, pid: int, rpc: str, calls: Sequence[Callable[[], Awaitable[object]]]
) -> PerCall:
    """Run ``calls`` one after another; Redis's and the service's work per call."""
    before = await counters(deployment, pid)
    for call in calls:
        await call()
    await asyncio.sleep(1.0)  # the relay publishes what these calls wrote to the outbox
    after = await counters(deployment, pid)
    own_reads = 3 * len(deployment.masters)  # the three INFOs on each master
    count = len(calls)
    commands = {
        name: (total - before.commands.get(name, 0)) / count
        for name, total in after.commands.items()
        if name not in {"info", "memory|usage", "scan"}
    }
    return PerCall(
        rpc=rpc,
        calls=count,
        commands={name: n for name, n in commands.items() if n >= NOISE_PER_CALL},
        round_trips=(after.round_trips - before.round_trips - own_reads) / count,
        redis_cpu_us=(after.redis_cpu - before.redis_cpu) / count * 1e6,
        service_cpu_us=(after.service_cpu - before.service_cpu) / count * 1e6,
    )


async def memory_by_kind(redis: RedisClient, prefix: str) -> dict[str, tuple[int, int]]:
    """``MEMORY USAGE`` of every key under ``prefix``, summed by kind: (keys, bytes)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
        kind = key.decode().removeprefix(prefix).split(":")[0]
        totals[kind][0] += 1
        totals[kind][1] += int(await redis.memory_usage(key, samples=0) or 0)
    return {kind: (keys, size) for kind, (keys, size) in sorted(totals.items())}


@dataclass
class Memory:
    """What the sessions cost: ``used_memory`` grown while they were made, and by kind of key."""

    sessions: int
    grown: int
    by_kind: dict[str, tuple[int, int]]

    @property
    def per_session(self) -> float:
        return self.grown / self.sessions


async def used_memory(deployment: Deployment) -> int:
    """``used_memory`` of the masters, summed."""
    return sum([int((await node.info("memory"))["used_memory"]) for node in deployment.masters])


async def phases(
    stub: pb_grpc.UserServiceAsyncStub, deployment: Deployment, pid: int, prefix: str
) -> tuple[list[PerCall], Memory]:
    """Register, Login (one session each), GetMe, Logout: each measured per call."""
    emails = [f"capacity-{uuid.uuid4().hex[:12]}@example.com" for _ in range(USERS)]
    sessions: list[str] = []

    async def sign_in(email: str) -> None:
        sessions.append((await login(stub, email))[1])

    def with_session(
        method: Callable[..., Awaitable[object]], request: object, session: str
    ) -> Callable[[], Awaitable[object]]:
        return lambda: method(request, metadata=session_metadata(session))

    registering = [functools.partial(register, stub, e) for e in emails]
    rows = [await per_call(deployment, pid, "Register", registering)]
    before = await used_memory(deployment)
    logging_in = [functools.partial(sign_in, e) for e in emails]
    rows.append(await per_call(deployment, pid, "Login", logging_in))
    grown = await used_memory(deployment) - before
    memory = Memory(len(sessions), grown, await memory_by_kind(deployment.keys, prefix))
    get_me = [with_session(stub.GetMe, pb.GetMeRequest(), s) for s in sessions] * GETME_PER_USER
    rows.append(await per_call(deployment, pid, "GetMe", get_me))
    logout = [with_session(stub.Logout, pb.LogoutRequest(), s) for s in sessions]
    rows.append(await per_call(deployment, pid, "Logout", logout))
    return rows, memory


HEADER = ("RPC", "round trips", "Redis CPU", "service CPU", "processes/node")


def print_calls(rows: list[PerCall]) -> None:
    print("  {:<9} {:>11} {:>10} {:>12} {:>15}  commands per call".format(*HEADER))
    for row in rows:
        commands = ", ".join(f"{name} {n:.2f}" for name, n in sorted(row.commands.items()))
        print(
            f"  {row.rpc:<9} {row.round_trips:>11.2f} {row.redis_cpu_us:>7.0f} µs"
            f" {row.service_cpu_us:>9.0f} µs {row.processes_per_node:>15.1f}  {commands}"
        )


def print_memory(memory: Memory) -> None:
    print(
        f"  used_memory grown by {memory.sessions} logins: {memory.per_session:.0f} B a session"
        f" ({GIGABYTE / memory.per_session:,.0f} sessions per GB)"
    )
    for kind, (keys, size) in memory.by_kind.items():
        print(f"    {kind:<16} {keys:>6} keys {size / max(keys, 1):>8.0f} B each (MEMORY USAGE)")
    per_user = sum(size for kind, (_, size) in memory.by_kind.items() if kind != "events")
    print(f"  keys of one user with one session: {per_user / memory.sessions:.0f} B (MEMORY USAGE)")


async def measure(deployment: Deployment, settings: Settings) -> tuple[list[PerCall], Memory]:
    """The service as a process on ``deployment``, the phases through one channel."""
    variables = {"APP_THROTTLING__ACCOUNT_FREE_FAILURES": "1000", **deployment.variables}
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "service.log"
        async with (
            production_service(settings, log, **variables) as (port, process),
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
        ):
            stub = pb_grpc.UserServiceStub(channel)
            return await phases(stub, deployment, process.pid, settings.redis.key_prefix)


@contextlib.asynccontextmanager
async def one_node() -> AsyncIterator[Deployment]:
    async with ThrowawayRedis() as server:
        client = Redis.from_url(server.url)
        deployment = Deployment("one node", [client], client, {"APP_REDIS__URL": server.url})
        try:
            yield deployment
        finally:
            await deployment.aclose()


@contextlib.asynccontextmanager
async def three_masters() -> AsyncIterator[Deployment]:
    async with ThrowawayRedisCluster() as cluster:
        masters = [Redis.from_url(f"redis://{node.address}/0") for node in cluster.masters()]
        variables = {"APP_REDIS__URL": cluster.url, "APP_REDIS__CLUSTER": "true"}
        deployment = Deployment("three masters", masters, cluster.cluster_client(), variables)
        try:
            yield deployment
        finally:
            await deployment.aclose()


async def main() -> None:
    configure_logging("WARNING", "console")
    settings = bench_settings()
    print(f"Redis capacity: {USERS} users, the service as a process on throwaway Redis servers")
    measured: list[list[PerCall]] = []
    try:
        for deploy in (one_node, three_masters):
            async with deploy() as deployment:
                print(f"== {deployment.name}")
                try:
                    rows, memory = await measure(deployment, settings)
                except grpc.aio.AioRpcError as error:
                    print(f"  not measured: a call answered {error.code().name}")
                    continue
            print_calls(rows)
            print_memory(memory)
            measured.append(rows)
    finally:
        await remove_run_data(settings)
    if len(measured) == 2:
        print_ratios(*measured)


def print_ratios(one_node: list[PerCall], cluster: list[PerCall]) -> None:
    """The cluster against the one node of the same run: Redis CPU and round trips per call."""
    print("== three masters / one node")
    for alone, spread in zip(one_node, cluster, strict=True):
        cpu = spread.redis_cpu_us / alone.redis_cpu_us
        print(
            f"  {alone.rpc:<9} Redis CPU {cpu:4.1f}x,"
            f" round trips {spread.round_trips / alone.round_trips:4.1f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
