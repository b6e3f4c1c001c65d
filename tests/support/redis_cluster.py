"""A real Redis Cluster on loopback for tests: three masters, three replicas, throwaway.

``ThrowawayRedisCluster`` starts six ``redis-server --cluster-enabled yes``
processes (each a :class:`ThrowawayClusterNode`, on free loopback ports with a
directory of its own), joins them with ``redis-cli --cluster create
--cluster-replicas 1`` and waits until every node reports ``cluster_state:ok``,
knows all six nodes and every replica has its master's data. Leaving the
``async with`` block kills every node and removes its directory, even when the
test failed. The shared Redis on 6379 is never touched.

Helpers for the tests that check where keys land and what happens when a node
dies::

    async with ThrowawayRedisCluster() as cluster:
        settings = ...redis={"url": cluster.url, "cluster": True}
        cluster.slot_of("user:{42}:sessions")      # CLUSTER KEYSLOT, asked of the server
        node = cluster.master_of("user:{42}:sessions")
        node.kill()                                # SIGKILL: its replica is promoted
        await cluster.wait_until_healthy()          # after the promotion
        await cluster.restore()                     # killed nodes rejoin (as replicas)

Nodes time out after ``node_timeout_ms`` (2 s by default, the production
default is 15 s): a killed master's replica takes over in a few seconds.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from redis import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from tests.support.ports import free_port
from tests.support.throwaway import ThrowawayRedis

CLUSTER_SLOTS = 16384
HEALTHY_TIMEOUT_SECONDS = 60.0


class ThrowawayClusterNode(ThrowawayRedis):
    """One ``redis-server`` in cluster mode; its cluster bus on a free port of its own.

    ``nodes.conf`` stays in the node's directory, so a restarted node keeps its
    identity and rejoins the cluster (a killed master comes back as a replica
    of the one that replaced it). No persistence: it resyncs from its master.
    """

    name = "redis-cluster-node"

    def __init__(self, node_timeout_ms: int) -> None:
        super().__init__()
        self.bus_port = free_port()
        self.node_timeout_ms = node_timeout_ms

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> Redis:
        """A plain (not cluster-aware) client of this node alone, short timeouts."""
        return Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def _options(self) -> list[str]:
        return [
            *super()._options(),
            "--cluster-enabled", "yes",
            "--cluster-port", str(self.bus_port),
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # A replica may always take over, however long it was cut off.
            "--cluster-replica-validity-factor", "0",
        ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class SlotRange:
    """Slots ``first``..``last`` (inclusive): the master's port and its replicas' ports."""

    first: int
    last: int
    port: int
    replica_ports: tuple[int, ...]


class ThrowawayRedisCluster:
    """Six throwaway nodes joined into one cluster: three masters, one replica each."""

    def __init__(self, masters: int = 3, node_timeout_ms: int = 2000) -> None:
        self.nodes = [ThrowawayClusterNode(node_timeout_ms) for _ in range(masters * 2)]

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """A seed node's URL (the first node still running): the cluster client finds the rest."""
        node = next((node for node in self.nodes if node.running), self.nodes[0])
        return f"redis://{node.address}/0"

    @property
    def urls(self) -> list[str]:
        """Every node's URL, for clients given several seeds."""
        return [f"redis://{node.address}/0" for node in self.nodes]

    def cluster_client(self) -> RedisCluster:
        """A cluster-aware asyncio client (close it with ``aclose()``).

        Its reads wait long: redis-py's cluster client sends a command again
        after a timeout, and a script run twice on a loaded machine would make
        a test's counts disagree. Like the service's client, it patches its
        slot map on MOVED instead of closing every connection, in use or not
        (``reinitialize_steps=0``; see ``app/bootstrap/store_clients.py``).
        """
        return RedisCluster.from_url(self.url, socket_timeout=30, reinitialize_steps=0)

    async def start(self) -> None:
        """Start the nodes, create the cluster and wait until it is healthy."""
        await asyncio.gather(*(node.start() for node in self.nodes))
        await asyncio.to_thread(self._create)
        await self.wait_until_healthy()

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def _create(self) -> None:
        binary = shutil.which("redis-cli")
        if binary is None:
            raise RuntimeError("no redis-cli binary (Debian: apt-get install redis-tools)")
        created = subprocess.run(
            [binary, "--cluster", "create", *(node.address for node in self.nodes),
             "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True,
            check=False,
            timeout=60,
        )  # fmt: skip
        if created.returncode != 0:
            output = (created.stdout + created.stderr).decode(errors="replace")
            raise RuntimeError(f"redis-cli --cluster create failed: {output[-2000:]}")

    async def wait_until_healthy(self, timeout: float = HEALTHY_TIMEOUT_SECONDS) -> None:
        """Wait until every running node agrees the cluster is whole and replicas are in sync.

        Whole: ``cluster_state:ok``, all 16384 slots served, every running node
        known to each and serving (a master of slots or a replica of one); every
        running replica's link to its master is up.
        """
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self._healthy):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "the throwaway Redis Cluster did not become healthy: " + self._states()
                )
            await asyncio.sleep(0.1)

    def _healthy(self) -> bool:
        running = [node for node in self.nodes if node.running]
        try:
            for node in running:
                with node.client() as client:
                    info = client.cluster("INFO")
                    replication = client.info("replication")
                known = int(info["cluster_known_nodes"])
                if info["cluster_state"] != "ok" or int(info["cluster_slots_ok"]) != CLUSTER_SLOTS:
                    return False
                if known < len(running):
                    return False
                if replication["role"] == "slave" and replication.get("master_link_status") != "up":
                    return False
            serving = {
                port
                for served in self.slot_ranges()
                for port in (served.port, *served.replica_ports)
            }
        except RedisError:
            return False
        # Every running node has its place: a master of slots or a replica of one.
        return serving == {node.port for node in running}

    def _states(self) -> str:
        states = []
        for node in self.nodes:
            if not node.running:
                states.append(f"{node.address} down")
                continue
            try:
                with node.client() as client:
                    states.append(f"{node.address} {client.cluster('INFO')['cluster_state']}")
            except RedisError as error:
                states.append(f"{node.address} {error!r}")
        return ", ".join(states)

    async def restore(self) -> None:
        """Start every killed node again (each rejoins, a former master as a replica); wait."""
        for node in self.nodes:
            await node.ensure_serving()
        await self.wait_until_healthy()

    def _any_client(self) -> Redis:
        node = next(node for node in self.nodes if node.running)
        return node.client()

    def slot_of(self, key: str | bytes) -> int:
        """The key's hash slot, as the server computes it (``CLUSTER KEYSLOT``)."""
        with self._any_client() as client:
            return int(client.cluster("KEYSLOT", key))

    def slot_ranges(self) -> list[SlotRange]:
        """Which master serves which slots, as a running node sees it (``CLUSTER SLOTS``)."""
        with self._any_client() as client:
            # CLUSTER SLOTS: [first, last, [host, port, id], replicas...] per range.
            answer = client.execute_command("CLUSTER SLOTS")
        return [
            SlotRange(int(first), int(last), int(master[1]), tuple(int(r[1]) for r in replicas))
            for first, last, master, *replicas in answer
        ]

    def master_for_slot(self, slot: int) -> ThrowawayClusterNode:
        """The node that serves ``slot`` now (after a promotion, the promoted replica)."""
        for served in self.slot_ranges():
            if served.first <= slot <= served.last:
                return self._node_on(served.port)
        raise LookupError(f"no master serves slot {slot}")

    def master_of(self, key: str | bytes) -> ThrowawayClusterNode:
        """The master that holds ``key``."""
        return self.master_for_slot(self.slot_of(key))

    def masters(self) -> list[ThrowawayClusterNode]:
        """The nodes serving slots now, one per slot range owner."""
        ports = sorted({served.port for served in self.slot_ranges()})
        return [self._node_on(port) for port in ports]

    def replica_of(self, master: ThrowawayClusterNode) -> ThrowawayClusterNode:
        """A running replica of ``master`` (the one promoted when it dies)."""
        for served in self.slot_ranges():
            if served.port == master.port:
                for port in served.replica_ports:
                    if (replica := self._node_on(port)).running:
                        return replica
        raise LookupError(f"{master.address} has no running replica")

    def node_id(self, node: ThrowawayClusterNode) -> str:
        with node.client() as client:
            return str(client.execute_command("CLUSTER MYID").decode())

    def _node_on(self, port: int) -> ThrowawayClusterNode:
        return next(node for node in self.nodes if node.port == port)
