"""The local cache's consistency claim, checked over traces of two processes under faults.

Run it as ``PYTHONPATH=tests .venv/bin/python scripts/cache_consistency.py [--seconds N]
[--fault NAME|all|failovers] [--no-cache | --with-baseline] [--wait-replicas N]``.

A writer process writes increasing versions of one key (a store without a cache, about one
per millisecond); a reader process reads it through a store with ``local_cache=True``
(100 µs between reads). The checker (tests/support/cache_consistency.py) proves from the
traces that no read returned a version older than the newest one acknowledged more than the
bound before the read began. The bound is the listener's lease (heartbeat interval +
timeout, 1.25 s): the longest the cache may serve after invalidations stop arriving.
``--no-cache`` is the baseline (the same reads straight from Redis): what it flags, the
servers lost; ``--with-baseline`` runs each fault both ways.

Faults on one server (8 s runs): ``kill`` CLIENT KILLs the invalidation connection every
second; ``sigstop`` freezes redis-server for 2 s (SIGSTOP, then SIGCONT), twice; ``restart``
stops and restarts redis-server on the same port (AOF with fsync always, so acknowledged
writes survive), twice. ``all`` (the default) runs ``none`` and these three.

Failovers (tests/support/topology*.py; ``failovers`` runs the four), 1.5 s into the run and
again while it has room for one more and 3 s of traffic after it: ``sentinel-failover`` (SENTINEL FAILOVER;
1 primary, 1 replica, 3 sentinels; both processes use ``Sentinel.master_for``) and
``sentinel-kill`` (SIGKILL of the primary, restarted empty once every sentinel named the
promoted replica),
30 s runs; the writer's store has ``wait_replicas=1`` (``--wait-replicas``), so a write
counts as acknowledged only once the replica holds it. ``cluster-failover`` (CLUSTER
FAILOVER on the replica of the key's primary; 3 primaries, 3 replicas; both use
``RedisCluster``) and ``cluster-kill`` (SIGKILL of that primary, restarted once its replica
took over), 12 s runs.
``wait_replicas`` is refused on a cluster client, so there an acknowledged write is the
primary's: a manual CLUSTER FAILOVER loses none (the primary pauses writers until its
replica caught up), a kill may lose the last few, which the baseline shows.
"""

import argparse
import contextlib
import dataclasses
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis
from redis.crc import key_slot
from support.cache_consistency import KEY, NAMESPACE, Target, Verdict, run
from support.servers import RedisServer, wait_for
from support.topology_cluster import Cluster
from support.topology_sentinel import SERVICE, SentinelDeployment

from hug_store_redis.cache import InvalidationListener

LEASE_MS = 1000 * (0.25 + 1.0)
Fault = Callable[[float], None]
SLOT = key_slot(f"{NAMESPACE}:{KEY}".encode())


def kill_listeners(server: RedisServer) -> Fault:
    def fault(end: float) -> None:
        admin = redis.Redis(port=server.port)
        while time.monotonic() < end - 1:
            time.sleep(1.0)
            for client in admin.client_list():
                if client["name"] == "hug_store_redis:invalidations":
                    admin.client_kill_filter(_id=client["id"])
        admin.close()

    return fault


def freeze(server: RedisServer) -> Fault:
    def fault(end: float) -> None:
        assert server.process is not None
        for _ in range(2):
            time.sleep(1.0)
            server.process.send_signal(signal.SIGSTOP)
            time.sleep(2.0)
            server.process.send_signal(signal.SIGCONT)

    return fault


def restart(server: RedisServer) -> Fault:
    def fault(end: float) -> None:
        for _ in range(2):
            time.sleep(1.5)
            server.stop()
            server.start()

    return fault


def repeatedly(step: Callable[[], None], gap: float = 1.5) -> Fault:
    """``step`` (a failover, waited out) 1.5 s into the run, then ``gap`` s after the previous one
    settled, while the run has room for another one as long as the last and 3 s of traffic."""

    def fault(end: float) -> None:
        took, pause = 1.0, 1.5
        while time.monotonic() + pause + took + 3 < end:
            time.sleep(pause)
            pause = gap
            started = time.monotonic()
            step()
            took = time.monotonic() - started
            print(f"  failover settled in {took:.1f} s", flush=True)

    return fault


def sentinel_failover(deployment: SentinelDeployment) -> Fault:
    def step() -> None:
        deployment.failover()
        deployment.wait_healthy()

    return repeatedly(step)


def sentinel_kill(deployment: SentinelDeployment) -> Fault:
    """SIGKILL of the primary; it is restarted (empty) once every sentinel names the new one.

    Restarted sooner, a sentinel that learns of the failover late can see the new primary
    down (its down-after clock starts when it learns) and fail over again, to the restarted
    empty node: the servers then serve an empty key (RELIABILITY.md, "Local cache").
    """

    def named_by_all(port: int) -> bool:
        return all(
            int(sentinel.client.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", SERVICE)[1]) == port
            for sentinel in deployment.sentinels
        )

    def step() -> None:
        old = deployment.current_primary_port()
        node = next(node for node in deployment.data_nodes if node.port == old)
        new = next(node for node in deployment.data_nodes if node.port != old)
        node.send(signal.SIGKILL)
        wait_for("every sentinel to name the promoted replica", lambda: named_by_all(new.port))
        time.sleep(deployment.down_after_ms / 1000 + 1)  # past any late sentinel's down-after
        node.start()  # empty; the sentinels turn it into the new primary's replica
        deployment.wait_healthy()

    return repeatedly(step)


# A primary votes for its shard's replicas at most once per 2 x node timeout (4 s here);
# sooner, a manual failover times out after pausing writers for 5 s.
CLUSTER_GAP = 4.5


def cluster_failover(cluster: Cluster) -> Fault:
    return repeatedly(lambda: cluster.failover(SLOT), CLUSTER_GAP)


def cluster_kill(cluster: Cluster) -> Fault:
    def step() -> None:
        old = cluster.primary_for_slot(SLOT)
        new = cluster.replica_of(old)
        old.send(signal.SIGKILL)
        wait_for("the replica to take over", lambda: new.client.info("replication")["role"] == "master")
        old.start()  # rejoins from its nodes.conf as the new primary's replica
        cluster.wait_healthy()

    return repeatedly(step, CLUSTER_GAP)


@contextlib.contextmanager
def one_server(
    directory: Path, make_fault: Callable[[RedisServer], Fault] | None
) -> Iterator[tuple[Target, Fault | None]]:
    server = RedisServer(directory, "--appendonly", "yes", "--appendfsync", "always").start()
    try:
        yield Target(port=server.port), make_fault(server) if make_fault is not None else None
    finally:
        server.stop()


@contextlib.contextmanager
def sentinel(
    directory: Path, make_fault: Callable[[SentinelDeployment], Fault]
) -> Iterator[tuple[Target, Fault]]:
    deployment = SentinelDeployment(directory)
    try:
        yield Target(sentinels=tuple(deployment.sentinel_addresses)), make_fault(deployment)
    finally:
        deployment.stop()


@contextlib.contextmanager
def cluster(directory: Path, make_fault: Callable[[Cluster], Fault]) -> Iterator[tuple[Target, Fault]]:
    nodes = Cluster(directory)
    try:
        yield Target(cluster_port=nodes.nodes[0].port), make_fault(nodes)
    finally:
        nodes.stop()


Setting = Callable[[Path], contextlib.AbstractContextManager[tuple[Target, Fault | None]]]
SCENARIOS: dict[str, Setting] = {
    "none": lambda directory: one_server(directory, None),
    "kill": lambda directory: one_server(directory, kill_listeners),
    "sigstop": lambda directory: one_server(directory, freeze),
    "restart": lambda directory: one_server(directory, restart),
    "sentinel-failover": lambda directory: sentinel(directory, sentinel_failover),
    "sentinel-kill": lambda directory: sentinel(directory, sentinel_kill),
    "cluster-failover": lambda directory: cluster(directory, cluster_failover),
    "cluster-kill": lambda directory: cluster(directory, cluster_kill),
}
ALL = ("none", "kill", "sigstop", "restart")
FAILOVERS = ("sentinel-failover", "sentinel-kill", "cluster-failover", "cluster-kill")
SECONDS = {"sentinel-failover": 30.0, "sentinel-kill": 30.0, "cluster-failover": 12.0, "cluster-kill": 12.0}
"""Long enough for two failovers (one each way) and traffic after them: a Sentinel one settles
in about 11 s (the sentinels turn the old primary into a replica 8 s after it reports itself
a primary, and until then ``wait_replicas=1`` acknowledges nothing)."""


def scenario(name: str, seconds: float, use_cache: bool, wait_replicas: int = 1) -> Verdict:
    with tempfile.TemporaryDirectory() as directory, SCENARIOS[name](Path(directory)) as (target, fault):
        if target.sentinels:
            target = dataclasses.replace(target, wait_replicas=wait_replicas)
        return run(target, seconds, bound_ms=LEASE_MS, fault=fault, use_cache=use_cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="8 on one server; 30 (Sentinel) and 12 (Cluster)")
    parser.add_argument("--fault", choices=[*SCENARIOS, "all", "failovers"], default="all")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--no-cache", action="store_true", help="the baseline: every read goes to Redis")
    modes.add_argument("--with-baseline", action="store_true", help="each fault with the cache, then without")
    parser.add_argument(
        "--wait-replicas", type=int, default=1, help="the Sentinel writer's (default 1; 0: async replication)"
    )
    options = parser.parse_args()
    assert InvalidationListener(("127.0.0.1", 1)).lease * 1000 == LEASE_MS
    names = {"all": list(ALL), "failovers": list(FAILOVERS)}.get(options.fault, [options.fault])
    caching = [True, False] if options.with_baseline else [not options.no_cache]
    for name in names:
        for use_cache in caching:
            seconds = options.seconds or SECONDS.get(name, 8.0)
            verdict = scenario(name, seconds, use_cache, options.wait_replicas)
            label = name if use_cache else f"{name}, no cache"
            print(f"{label}: {verdict.summary()}", flush=True)
            print(f"  stalest read: {verdict.stalest}", flush=True)
            print(f"  reader's store: {verdict.stats}", flush=True)


if __name__ == "__main__":
    main()
