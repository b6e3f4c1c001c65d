"""``/metrics`` over HTTP after a workload: gRPC, Redis client, PostgreSQL pool, process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import running_application
from tests.support.client import eventually
from tests.support.metrics import scrape, value
from tests.support.workload import workload

SERVICE = "userService.UserService"


@pytest.fixture(scope="module")
async def metered(application: Application) -> AsyncIterator[Application]:
    # ``application`` keeps the run's stores alive until this one has stopped.
    async with running_application(metrics={"enabled": True}) as metered:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{metered.port}") as channel:
            await workload(pb_grpc.UserServiceStub(channel))
        yield metered


async def test_grpc_server_metrics_count_each_method_with_its_code(metered: Application) -> None:
    assert metered.metrics_port
    samples = await scrape(metered.metrics_port)

    def handled(method: str, code: str) -> float:
        return value(
            samples,
            "grpc_server_handled_total",
            grpc_type="unary",
            grpc_service=SERVICE,
            grpc_method=method,
            grpc_code=code,
        )

    assert handled("Register", "OK") == 1
    assert handled("Login", "OK") == 1
    assert handled("Login", "Unauthenticated") == 1
    assert handled("GetMe", "OK") == 1
    assert handled("GetMe", "Unauthenticated") == 1
    assert handled("FindByID", "OK") == 2
    labels = {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": "FindByID"}
    assert value(samples, "grpc_server_started_total", **labels) == 2
    assert value(samples, "grpc_server_msg_received_total", **labels) == 2
    assert value(samples, "grpc_server_msg_sent_total", **labels) == 2
    assert value(samples, "grpc_server_handling_seconds_count", **labels) == 2
    assert value(samples, "grpc_server_handling_seconds_bucket", le="+Inf", **labels) == 2
    assert value(samples, "grpc_server_in_flight_requests", **labels) == 0
    # Methods not called yet are exported as zeros, so rates exist from the start.
    assert handled("FindByEmail", "OK") == 0


async def test_logins_and_sessions_are_counted_by_outcome_and_reason(
    metered: Application,
) -> None:
    assert metered.metrics_port
    samples = await scrape(metered.metrics_port)

    assert value(samples, "user_logins_total", outcome="success") == 1
    assert value(samples, "user_logins_total", outcome="invalid_credentials") == 1
    assert value(samples, "user_sessions_created_total") == 1
    assert value(samples, "user_sessions_ended_total", reason="logout") == 1
    # Every outcome and reason exists from the start, at zero.
    assert value(samples, "user_logins_total", outcome="throttled") == 0
    assert value(samples, "user_sessions_ended_total", reason="cap") == 0


async def test_redis_client_metrics_cover_latency_traffic_errors_and_connections(
    metered: Application,
) -> None:
    assert metered.metrics_port
    samples = await scrape(metered.metrics_port)

    latency = "db_client_operation_duration_seconds_count"
    assert value(samples, latency, db_system="redis", db_operation_name="EVALSHA") >= 3
    assert value(samples, latency, db_system="redis", db_operation_name="GET") >= 2
    assert value(samples, "redis_client_commands_sent_total", command="EVALSHA") >= 3
    assert value(samples, "redis_client_replies_read_total", command="EVALSHA") >= 3
    assert value(samples, "redis_client_bytes_written_total") > 0
    assert value(samples, "redis_client_bytes_read_total") > 0
    assert value(samples, "db_client_connection_create_time_seconds_count", db_system="redis") >= 1
    assert value(samples, "redis_pool_connections_idle", client="main") >= 1

    async def idle() -> bool:
        # A health probe (PING every 0.2 s here) may hold a connection at a scrape.
        port = metered.metrics_port
        assert port
        return value(await scrape(port), "redis_pool_connections_in_use", client="main") == 0

    await eventually(idle, timeout=5)
    assert value(samples, "redis_pool_max_connections", client="main") == 64


async def test_redis_errors_are_counted_by_kind(metered: Application) -> None:
    with pytest.raises(Exception, match="WRONGTYPE"):
        await metered.redis.lpush(f"{metered.settings.redis.key_prefix}not-a-list", "x")
        await metered.redis.set(f"{metered.settings.redis.key_prefix}not-a-list", "x")
        await metered.redis.lpush(f"{metered.settings.redis.key_prefix}not-a-list", "x")
    assert metered.metrics_port
    samples = await scrape(metered.metrics_port)

    assert value(samples, "redis_client_errors_total", error_type="ResponseError") >= 1


async def test_postgres_pool_and_query_metrics_and_process_metrics_are_served(
    metered: Application,
) -> None:
    assert metered.metrics_port
    port = metered.metrics_port

    async def idle() -> bool:
        # A health probe (SELECT 1 every 0.2 s here) may hold a connection at a scrape.
        return value(await scrape(port), "pg_pool_in_use") == 0

    await eventually(idle, timeout=5)
    samples = await scrape(port)

    assert value(samples, "pg_pool_size") >= 1
    assert value(samples, "pg_pool_waiting") == 0
    assert value(samples, "pg_pool_max_size") == metered.settings.postgres.pool_max_size
    assert value(samples, "pg_query_duration_seconds_count", operation="SELECT") >= 1
    assert value(samples, "process_cpu_seconds_total") > 0
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_open_fds") > 0
