"""A Redis Cluster of 3 primaries and 3 replicas, joined from Python."""

import time
from pathlib import Path
from typing import Any

from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from support.servers import HOST, Node, free_port, wait_for

SLOT_RANGES = ((0, 5460), (5461, 10922), (10923, 16383))


def cluster_client(port: int, **kwargs: Any) -> RedisCluster:
    """A RedisCluster through the node on ``port`` that rides out a failover (any process may build one)."""
    options: dict[str, Any] = {
        "socket_timeout": 5,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=10),
    }
    options.update(kwargs)
    return RedisCluster(host=HOST, port=port, **options)


class Cluster:
    """3 primaries + 3 replicas with ``--cluster-enabled yes``, joined from Python."""

    def __init__(self, workdir: Path) -> None:
        self.nodes: list[Node] = []
        try:
            self._start(workdir)
        except BaseException:
            self.stop()
            raise

    def _start(self, workdir: Path) -> None:
        for index in range(6):
            bus_port = free_port()
            args = ["--cluster-enabled", "yes", "--cluster-port", str(bus_port)]
            args += ["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"]
            # CLUSTER SLOTS (what clients read) lists a replica only once its replication
            # offset is non-zero; a ping down the link every second gets it there on an
            # empty cluster too.
            args += ["--repl-ping-replica-period", "1"]
            node = Node(workdir, f"cluster-{index}", *args)
            node.bus_port = bus_port
            self.nodes.append(node)
        primaries, replicas = self.nodes[:3], self.nodes[3:]
        for node, (first, last) in zip(primaries, SLOT_RANGES, strict=True):
            node.client.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
        for node in self.nodes[1:]:
            self.nodes[0].client.execute_command("CLUSTER MEET", HOST, node.port, node.bus_port)
        for node in self.nodes:
            wait_for("every node to know all six", lambda n=node: len(self._known(n)) == 6)
        for replica, primary in zip(replicas, primaries, strict=True):
            primary_id = primary.client.execute_command("CLUSTER MYID")
            replica.client.execute_command("CLUSTER REPLICATE", primary_id)
        self.wait_healthy()

    @staticmethod
    def _known(node: Node) -> dict[str, Any]:
        nodes: dict[str, Any] = node.client.execute_command("CLUSTER NODES")  # parsed by redis-py
        return nodes

    @classmethod
    def _roles(cls, node: Node) -> tuple[tuple[str, str, str], ...]:
        """This node's view of who is primary or replica of whom; failed nodes count as unknown."""
        view = []
        for address, state in cls._known(node).items():
            flags = set(state["flags"].replace("myself,", "").split(","))
            role = "master" if flags == {"master"} else "slave" if flags == {"slave"} else "unknown"
            view.append((address.split("@")[0], role, state["master_id"]))
        return tuple(sorted(view))

    @staticmethod
    def _slots(node: Node) -> list[Any]:
        slots: list[Any] = node.client.execute_command("CLUSTER SLOTS")
        return slots

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(HOST, node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL of one node (the client discovers the rest)."""
        return f"redis+cluster://{HOST}:{self.nodes[0].port}/0"

    def client(self, **kwargs: Any) -> RedisCluster:
        """A RedisCluster that rides out a failover: it retries and re-reads the slot map."""
        return cluster_client(self.nodes[0].port, **kwargs)

    def node_at(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)

    def primaries(self) -> list[Node]:
        return [node for node in self.nodes if node.client.info("replication")["role"] == "master"]

    def primary_for_slot(self, slot: int) -> Node:
        for first, last, *owners in self._slots(self.nodes[0]):
            if first <= slot <= last:
                return self.node_at(int(owners[0][1]))
        raise LookupError(f"slot {slot} is not served")

    def replica_of(self, primary: Node) -> Node:
        primary_id = primary.client.execute_command("CLUSTER MYID")
        for node in self.nodes:
            info = node.client.info("replication")
            if info["role"] == "slave" and info.get("master_port") == primary.port:
                return node
        raise LookupError(f"no replica of {primary.name} ({primary_id})")

    def failover(self, slot: int, wait: bool = True) -> tuple[Node, Node]:
        """``CLUSTER FAILOVER`` on the replica of ``slot``'s primary; (old, new) primaries.

        With ``wait=False`` it returns as soon as the replica accepted the request, so a
        test can hit the cluster mid-failover; call ``await_takeover`` afterwards.
        """
        old = self.primary_for_slot(slot)
        new = self.replica_of(old)
        new.client.execute_command("CLUSTER FAILOVER")
        if wait:
            self.await_takeover(slot, new)
        return old, new

    def await_takeover(self, slot: int, new: Node, timeout: float = 40.0) -> None:
        """Wait until ``new`` serves ``slot`` and the cluster is healthy again.

        A primary votes for the replicas of one shard at most once per 2 x node timeout,
        so back-to-back failovers of one shard can time out (Redis gives up after 5 s);
        the request is then repeated, as an operator would.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                wait_for(
                    f"{new.name} to take over slot {slot}", lambda: self.primary_for_slot(slot) is new, 6
                )
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
                new.client.execute_command("CLUSTER FAILOVER")
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """All slots served, every node says ok and agrees who serves which, replicas in sync."""

        def healthy() -> bool:
            for node in self.nodes:
                if node.client.execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                    return False
            maps = {
                tuple(sorted((first, last, owner[1]) for first, last, owner, *_ in self._slots(n)))
                for n in self.nodes
            }
            if len(maps) != 1:
                return False
            views = {self._roles(node) for node in self.nodes}
            if len(views) != 1 or sum(1 for _, role, _ in views.pop() if role == "master") != 3:
                return False
            if any(len(entry) != 4 for entry in self._slots(self.nodes[0])):  # a primary and its replica
                return False
            roles = [node.client.info("replication") for node in self.nodes]
            primaries = [info for info in roles if info["role"] == "master"]
            replicas = [info for info in roles if info["role"] == "slave"]
            return (
                len(primaries) == 3
                and all(info["connected_slaves"] == 1 for info in primaries)
                and all(info["slave0"]["state"] == "online" for info in primaries)
                and all(info["master_link_status"] == "up" for info in replicas)
                and all(info["master_sync_in_progress"] == 0 for info in replicas)
            )

        wait_for("the cluster to be healthy", healthy, timeout)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
