"""GetMe over the HTTP/JSON port (Connect) against GetMe over gRPC, in one run.

On one service instance, sequential calls from one client in this process
(a keep-alive httpx client for HTTP, a grpc.aio channel for gRPC):

* **gRPC**: ``GetMe`` over HTTP/2, the baseline;
* **Connect JSON**: ``POST /userService.UserService/GetMe`` with ``{}``;
* **Connect binary**: the same with ``application/proto``.

Both ports run the same servicer and call layers, so the difference is the
framing: HTTP/1.1 with uvicorn and h11, JSON, and the context adapter.
Reported as p50/p99 and as ratios to gRPC's p50. ``BENCH_CALLS`` sets the
calls per measurement. It makes its own database and Redis key prefix and
removes both.
"""

from __future__ import annotations

import asyncio
import statistics

import grpc
import httpx
from harness import RUN_ID, bench_settings, measure, percentile, running

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.observability.setup.logging import configure_logging
from tests.support.connect import method_url
from tests.support.isolation import remove_run_data


async def main() -> None:
    configure_logging("WARNING", "console")
    settings = bench_settings()
    try:
        async with (
            running(settings) as application,
            grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{application.http_port}") as http,
        ):
            stub = pb_grpc.UserServiceStub(channel)
            email = f"bench-http-{RUN_ID}@example.com"
            password = "benchmark password"
            await stub.Register(
                pb.RegisterRequest(email=email, first_name="B", last_name="M", password=password)
            )
            session = (await stub.Login(pb.LoginRequest(email=email, password=password))).session_id
            metadata = (("session_id", session),)
            bearer = {"authorization": f"Bearer {session}"}
            binary = {**bearer, "content-type": "application/proto"}

            async def connect_json() -> None:
                response = await http.post(method_url("GetMe"), json={}, headers=bearer)
                assert response.status_code == 200, response.text

            async def connect_binary() -> None:
                response = await http.post(method_url("GetMe"), content=b"", headers=binary)
                assert response.status_code == 200, response.text

            results = {
                "gRPC": await measure(lambda: stub.GetMe(pb.GetMeRequest(), metadata=metadata)),
                "Connect JSON": await measure(connect_json),
                "Connect binary": await measure(connect_binary),
            }
    finally:
        await remove_run_data(settings)

    print(f"GetMe over each port: {len(results['gRPC'])} sequential calls a row, one client")
    print(f"{'':16} {'p50 µs':>9} {'p99 µs':>9} {'mean µs':>9} {'p50 / gRPC':>11}")
    baseline = percentile(results["gRPC"], 0.5)
    for name, timings in results.items():
        p50 = percentile(timings, 0.5)
        print(
            f"{name:16} {p50:9.0f} {percentile(timings, 0.99):9.0f}"
            f" {statistics.fmean(timings) * 1e6:9.0f} {p50 / baseline:10.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
