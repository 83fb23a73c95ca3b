"""The store asks a Cluster what it can do once per node set, not once per primary.

Scripts are loaded per node, so each primary answers NOSCRIPT to each script's first use
there: that is warm-up, not a sign that a node changed. A primary that was not there when the
Cluster was asked (a failover promoted its replica) is: the Cluster is asked again, once.
What was asked is counted on every node (``COMMAND INFO`` and ``COMMAND DOCS``, the two
questions detection sends), so a failover's change of primaries does not hide a count.
"""

import pytest
from support.commands import command_calls
from support.topology_cluster import Cluster

from hug_store_redis import RedisStore
from hug_store_redis.transport import COMPARE_AND_SET, READ_AND_TOUCH

#: Keys on different slots, so on every primary (checked below).
KEYS = ["alice", "bob", "carol", "dave", "ключ", "{tag}x", "k1", "k2", "k3", "k4"]
EXPIRATION = 100
TOUCH_AFTER = 50
DETECTION = ("command|info", "command|docs")
SHAS = (READ_AND_TOUCH.sha, COMPARE_AND_SET.sha)


def asked(cluster: Cluster) -> dict[int, tuple[int, ...]]:
    """Per node (by port): how often it was sent each of ``DETECTION`` since it started."""
    counts = {}
    for node in cluster.nodes:
        calls = command_calls(node.client)
        counts[node.port] = tuple(calls.get(name, 0) for name in DETECTION)
    return counts


def asked_since(cluster: Cluster, before: dict[int, tuple[int, ...]]) -> dict[int, tuple[int, ...]]:
    """The nodes asked since ``before``, with how often (nodes not asked left out)."""
    after = asked(cluster)
    delta = {
        port: tuple(now - then for now, then in zip(after[port], before[port], strict=True)) for port in after
    }
    return {port: counts for port, counts in delta.items() if any(counts)}


def session_round(store: RedisStore, version: int) -> None:
    """Each key read through the sliding script and written conditionally."""
    for key in KEYS:
        assert store.read_payload_sliding(key, TOUCH_AFTER).payload == b"[%d]" % version
        assert store.compare_and_set(key, b"[%d]" % version, b"[%d]" % (version + 1)).written


@pytest.mark.one_twin
def test_warm_up_on_every_primary_asks_each_once(redis_cluster, cluster_client):
    """Each script's first NOSCRIPT on the second and third primaries used to be taken for a
    changed node: the whole Cluster asked again, inside requests, once per primary and script."""
    for node in redis_cluster.nodes:
        node.client.script_flush()  # every primary warms up inside this test
    primaries = {redis_cluster.primary_for_slot(cluster_client.keyslot(b"s:" + k.encode())) for k in KEYS}
    assert len(primaries) == 3
    store = RedisStore(cluster_client, namespace="s", expiration=EXPIRATION)
    for key in KEYS:
        assert store.create(key, b"[1]")
    before = asked(redis_cluster)
    session_round(store, 1)
    session_round(store, 2)
    assert asked_since(redis_cluster, before) == {node.port: (1, 1) for node in primaries}
    assert store.stats()["errors"] == 0


@pytest.mark.one_twin
def test_a_failover_asks_the_cluster_again_once(redis_cluster, cluster_client):
    """The replica promoted holds none of the scripts: its first NOSCRIPT names a node the
    Cluster was not asked about, so the capabilities are asked again, once; the other
    primaries' scripts are still loaded and ask nothing more."""
    store = RedisStore(cluster_client, namespace="s", expiration=EXPIRATION)
    for key in KEYS:
        assert store.create(key, b"[1]")
    session_round(store, 1)  # detected, every script loaded where it runs
    slot = cluster_client.keyslot(b"s:" + KEYS[0].encode())
    try:
        old, new = redis_cluster.failover(slot)
        assert new.client.script_exists(*SHAS) == [False, False]
        before = asked(redis_cluster)
        session_round(store, 2)
        session_round(store, 3)
        again = asked_since(redis_cluster, before)
        assert again.get(new.port) == (1, 1) and old.port not in again
        assert set(again.values()) == {(1, 1)}  # one round: each node asked at most once
        assert store.stats()["errors"] == 0
    finally:
        redis_cluster.wait_healthy()  # the next test gets a whole cluster whatever happened here
