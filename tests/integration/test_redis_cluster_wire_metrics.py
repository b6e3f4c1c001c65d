"""A Redis Cluster client's wire traffic is counted like a single node's: commands by name,
replies matched to them (pipelines and scripts too), bytes each way, on every node."""

from __future__ import annotations

import uuid

import grpc
from prometheus_client import CollectorRegistry

from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from app.observability.setup.redis_metrics import RedisWireMetrics
from tests.support.application import running_application
from tests.support.metrics import scrape, value
from tests.support.redis_cluster import ThrowawayRedisCluster
from tests.support.workload import workload


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_cluster_clients_commands_replies_and_bytes_are_counted_on_every_master(
    redis_cluster: ThrowawayRedisCluster,
):
    registry = CollectorRegistry()
    wire = RedisWireMetrics(registry)
    client = redis_cluster.cluster_client()
    wire.instrument_cluster(client)
    keys = [f"wire-test:{uuid.uuid4()}" for _ in range(30)]
    try:
        for key in keys:
            await client.set(key, "value", ex=60)
            assert await client.get(key) == b"value"
        async with client.pipeline(transaction=False) as pipeline:
            for key in keys:
                pipeline.exists(key)
            assert await pipeline.execute() == [1] * len(keys)
        assert await client.eval("return 1", 1, keys[0]) == 1
        nodes = {
            node.name
            for node in client.get_nodes()
            if node.connection_class.__name__.startswith("Metered")
        }
    finally:
        await client.delete(*keys[:1])
        for key in keys[1:]:
            await client.delete(key)
        await client.aclose()

    assert {redis_cluster.master_of(key).address for key in keys} <= nodes
    assert len({redis_cluster.master_of(key).port for key in keys}) == 3
    for command in ("SET", "GET", "EXISTS"):
        assert sample(registry, "redis_client_commands_sent_total", command=command) >= len(keys)
        assert sample(registry, "redis_client_replies_read_total", command=command) == sample(
            registry, "redis_client_commands_sent_total", command=command
        )
    assert sample(registry, "redis_client_replies_read_total", command="EVAL") == 1
    assert sample(registry, "redis_client_bytes_written_total") > 0
    assert sample(registry, "redis_client_bytes_read_total") > 0


async def test_a_service_on_a_cluster_serves_its_redis_wire_metrics(
    application: Application, redis_cluster: ThrowawayRedisCluster
):
    # ``application`` keeps the run's stores alive until this one has stopped.
    cluster = {"url": redis_cluster.url, "cluster": True}
    async with running_application(redis=cluster, metrics={"enabled": True}) as metered:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{metered.port}") as channel:
            await workload(pb_grpc.UserServiceStub(channel))
        assert metered.metrics_port
        samples = await scrape(metered.metrics_port)

    assert value(samples, "redis_client_commands_sent_total", command="EVALSHA") >= 3
    assert value(samples, "redis_client_replies_read_total", command="EVALSHA") >= 3
    assert value(samples, "redis_client_bytes_written_total") > 0
    assert value(samples, "redis_client_bytes_read_total") > 0
