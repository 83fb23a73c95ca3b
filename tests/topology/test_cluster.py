"""The store on a real Redis Cluster (3 primaries, 3 replicas): admin and failover.

The store suite runs on the cluster and through Sentinel in test_store_topologies.py.
"""

import pytest
from redis.cluster import RedisCluster
from test_store_topologies import KEYS

from hug_store_redis import RedisStore


@pytest.mark.one_twin
def test_the_cluster_has_three_primaries_with_a_replica_each(redis_cluster, cluster_client):
    assert len(cluster_client.get_primaries()) == 3
    assert len(cluster_client.get_replicas()) == 3
    assert all(node.client.info("cluster")["cluster_enabled"] == 1 for node in redis_cluster.nodes)


@pytest.mark.one_twin
def test_admin_scans_every_primary(redis_cluster, cluster_client):
    """Keys on all three primaries are counted, listed and cleared; one node's SCAN is not enough."""
    store = RedisStore(cluster_client, namespace="sessions")
    keys = [f"user-{n}" for n in range(60)]
    for key in keys:
        store.set(key, n := {"k": key})
        assert store.get(key) == n
    per_primary = [node.client.dbsize() for node in redis_cluster.primaries()]
    assert len(per_primary) == 3 and all(size > 0 for size in per_primary)
    assert store.count() == 60
    assert sorted(store.ids()) == sorted(keys)
    assert store.clear() == 60
    assert [node.client.dbsize() for node in redis_cluster.primaries()] == [0, 0, 0]


@pytest.mark.one_twin
def test_admin_on_a_cluster_client_with_decode_responses(redis_cluster):
    # Lone surrogates are not UTF-8, so a decode_responses client cannot read them back.
    keys = [key for key in KEYS if key != "\ud800"]
    client = redis_cluster.client(decode_responses=True)
    try:
        store = RedisStore(client, namespace="sessions")
        for key in keys:
            store.set(key, 1)
        assert sorted(store.ids()) == sorted(keys)
        assert store.get("ключ") == 1
        assert store.clear() == len(keys)
    finally:
        client.close()


@pytest.mark.one_twin
def test_store_from_cluster_url(redis_cluster, cluster_client):
    store = RedisStore.from_url(redis_cluster.url, namespace="sessions", expiration=60)
    try:
        assert isinstance(store.connection, RedisCluster)
        store.set("k", {"a": 1})
        assert cluster_client.get(b"sessions:k") == b'{"a": 1}'
        assert 0 < store.ttl("k") <= 60
    finally:
        store.connection.close()


@pytest.mark.one_twin
def test_store_survives_cluster_failover(redis_cluster, cluster_client):
    """CLUSTER FAILOVER on the replica of the session's primary: ops resume, data intact."""
    store = RedisStore(cluster_client, namespace="sessions")
    data = {"user": "alice", "cart": list(range(50))}
    store.set("alice", data)
    slot = cluster_client.keyslot(store.namespaced_key("alice"))
    try:
        old, new = redis_cluster.failover(slot, wait=False)
        # No waiting: the client's retries and slot-map refresh carry it through.
        assert store.get("alice") == data
        store.set("alice", {**data, "after": True})
        redis_cluster.await_takeover(slot, new)
        assert store.get("alice") == {**data, "after": True}
        assert new.client.info("replication")["role"] == "master"
        assert old.client.info("replication")["role"] == "slave"
        assert new.client.get("sessions:alice") is not None
    finally:
        redis_cluster.wait_healthy()  # the next test gets a whole cluster whatever happened here
