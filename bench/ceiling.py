"""The two limits the service is measured against, in the same run.

* The no-op ceiling: a bare grpc.aio server on uvloop (no interceptors, no stores) whose
  one unary method answers an empty message. ``python bench/ceiling.py PORT``
  serves it until killed; the harness drives it with the same generator and
  settings as the service. ``python bench/ceiling.py PORT --reuse-port``
  shares the port (``SO_REUSEPORT``) with other such processes: N of them are
  the ceiling of N worker processes.
* The hashing limit: argon2id verifications per second with the service's
  parameters, one thread per usable CPU (argon2-cffi releases the GIL).
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import uvloop
from argon2 import PasswordHasher, Type

NOOP_METHOD = "/bench.Noop/Call"


async def serve_noop(port: int, *, reuse_port: bool = False) -> None:
    async def call(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return b""

    server = grpc.aio.server(options=[("grpc.so_reuseport", int(reuse_port))])
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(call)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("bench.Noop", {"Call": handler}),)
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def verifications_per_second(
    *, memory_cost_kib: int, time_cost: int, parallelism: int, threads: int, seconds: float
) -> float:
    """argon2id verifications per second on ``threads`` threads, for about ``seconds``."""
    hasher = PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_cost_kib,
        parallelism=parallelism,
        type=Type.ID,
    )
    password = "benchmark password"
    password_hash = hasher.hash(password)
    until = time.monotonic() + seconds

    def verify_until() -> int:
        done = 0
        while time.monotonic() < until and done < 100_000:
            hasher.verify(password_hash, password)
            done += 1
        return done

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: verify_until(), range(threads)))
    return total / (time.monotonic() - started)


if __name__ == "__main__":
    # uvloop, as the service runs.
    uvloop.run(serve_noop(int(sys.argv[1]), reuse_port="--reuse-port" in sys.argv[2:]))
