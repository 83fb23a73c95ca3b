"""Failover figures for the Cluster and Sentinel pages (docs/cluster.md, docs/sentinel.md).

Run it as ``PYTHONPATH=tests .venv/bin/python scripts/failover_figures.py``.

Timing belongs here, not in the tests: the tests check that the store resumes, this
script measures how long it takes on the machine at hand.
"""

import shutil
import tempfile
import time
from pathlib import Path

from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from support.servers import Node, wait_for
from support.topology_cluster import Cluster
from support.topology_sentinel import SentinelDeployment

from hug_store_redis import RedisStore

_attempts = iter(range(1_000_000_000))


def _lands(store: RedisStore, new: Node) -> bool:
    """Write a fresh value through ``store``; True once it is on ``new``."""
    attempt = next(_attempts)
    store.set("probe", attempt)
    return bool(new.client.get(f"{store.namespace}:probe") == str(attempt))


def _new_client_lands(deployment: SentinelDeployment, new: Node) -> bool:
    """A client made now, as a freshly started app would make it: does it write to ``new``?"""
    store = RedisStore(deployment.master_for(), namespace="fresh")
    try:
        return _lands(store, new)
    finally:
        store.connection.close()  # type: ignore[attr-defined]


def measure_failovers(rounds: int = 3) -> None:
    """Print, per round, how long store operations take to resume after each failover."""
    workdir = Path(tempfile.mkdtemp(prefix="hug-store-redis-measure-"))
    (workdir / "c").mkdir()
    (workdir / "s").mkdir()
    cluster = Cluster(workdir / "c")
    try:
        store = RedisStore(cluster.client(), namespace="sessions")
        for round_ in range(rounds):
            store.set("alice", {"round": round_})
            slot = cluster.client().keyslot(store.namespaced_key("alice"))
            started = time.monotonic()
            _, new = cluster.failover(slot, wait=False)
            assert store.get("alice") == {"round": round_}
            store.set("alice", {"round": round_, "after": True})
            first_ops = time.monotonic() - started
            cluster.await_takeover(slot, new)
            print(f"cluster  round {round_}: get+set done {first_ops:.2f}s after CLUSTER FAILOVER")
            time.sleep(4.5)  # 2 x node timeout: the primaries' vote for this shard is free again
    finally:
        cluster.stop()
    deployment = SentinelDeployment(workdir / "s")
    try:
        client = deployment.master_for(retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=20))
        store = RedisStore(client, namespace="sessions")
        for round_ in range(rounds):
            store.set("alice", round_)  # the client holds a connection to the old primary
            old = deployment.current_primary_port()
            new = next(n for n in deployment.data_nodes if n.port != old)
            started = time.monotonic()
            promoted = deployment.failover()
            wait_for(
                "a new client's writes on the new primary", lambda new=new: _new_client_lands(deployment, new)
            )
            fresh_resumed = time.monotonic() - started
            wait_for("writes on the new primary", lambda new=new: _lands(store, new))
            resumed = time.monotonic() - started
            print(
                f"sentinel round {round_}: promoted {promoted:.2f}s, writes on the new primary from a"
                f" new client {fresh_resumed:.2f}s, from a client connected before {resumed:.2f}s"
            )
            deployment.wait_healthy()
    finally:
        deployment.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    measure_failovers()
