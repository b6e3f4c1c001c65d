"""The throwaway Redis Cluster the cluster tests run on: whole, spread, and it fails over."""

from __future__ import annotations

from tests.support.redis_cluster import CLUSTER_SLOTS, ThrowawayRedisCluster


async def test_three_masters_serve_every_slot_each_with_a_replica(
    redis_cluster: ThrowawayRedisCluster,
) -> None:
    ranges = redis_cluster.slot_ranges()

    assert len({served.port for served in ranges}) == 3
    assert sum(served.last - served.first + 1 for served in ranges) == CLUSTER_SLOTS
    assert all(len(served.replica_ports) == 1 for served in ranges)


async def test_a_killed_master_is_replaced_by_its_replica_and_keeps_replicated_keys(
    redis_cluster: ThrowawayRedisCluster,
) -> None:
    key = "cluster-support:{kept}"
    client = redis_cluster.cluster_client()
    try:
        await client.set(key, "value")
        master = redis_cluster.master_of(key)
        replica = redis_cluster.replica_of(master)
        with master.client() as direct:
            assert direct.wait(1, 5000) == 1  # the replica has the write before its master dies

        master.kill()
        await redis_cluster.wait_until_healthy()

        assert redis_cluster.master_of(key) is replica
        with replica.client() as direct:
            assert direct.get(key) == b"value"
    finally:
        await client.aclose()
        await redis_cluster.restore()
