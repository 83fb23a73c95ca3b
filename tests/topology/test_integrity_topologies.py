"""Lazy-expiry reads and conditional writes on a real Redis Cluster and through Sentinel.

Scripts are loaded per node: after SCRIPT FLUSH on every cluster node, each primary's first
call gets NOSCRIPT and one EVAL there. A cluster that refuses scripts reads through GET + PTTL
and writes through a WATCH transaction on the key's node.
"""

import pytest
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from support.server_kinds import selected_server
from support.servers import Node, wait_for

from hug_store_redis import RedisStore
from hug_store_redis.errors import CompareAndSetUnavailableError
from hug_store_redis.transport import COMPARE_AND_SET, READ_AND_TOUCH

#: Keys on different slots, so on different primaries.
KEYS = ["alice", "bob", "carol", "dave", "ключ", "{tag}x", "k1", "k2", "k3", "k4"]
EXPIRATION = 100
TOUCH_AFTER = 50


@pytest.fixture(params=["cluster", "sentinel"])
def backend_raw(request):
    return request.getfixturevalue("cluster_client" if request.param == "cluster" else "sentinel_master")


def scenario(store: RedisStore, raw) -> None:
    for key in KEYS:
        assert store.create(key, b"[1]") and not store.create(key, b"[9]")
        assert store.read_payload_sliding(key, TOUCH_AFTER)[:2] == (b"[1]", pytest.approx(100_000, abs=5_000))
        raw.pexpire(b"sessions:" + key.encode(), 30_000)
        assert store.read_payload_sliding(key, TOUCH_AFTER)[:2] == (b"[1]", 100_000)
        assert store.compare_and_set(key, b"[1]", b"[2]").written
        assert store.compare_and_set(key, b"[1]", b"[3]").current == b"[2]"
        assert store.create_replacing(key + "-new", b"[2]", key)
        assert store.compare_and_set(key, b"[2]", b"[4]").gone and not raw.exists(b"sessions:" + key.encode())
        assert store.compare_and_set(key + "-new", b"[2]", b"").written
        assert store.read_payload_sliding(key + "-new", TOUCH_AFTER)[:2] == (None, -2)
    stats = store.stats()
    count = len(KEYS)
    assert (stats["writes"], stats["conflicts"], stats["touches"], stats["deletes"]) == (
        3 * count,
        2 * count,
        count,
        2 * count,
    )
    assert stats["errors"] == 0


def test_reads_and_conditional_writes(backend_raw):
    scenario(RedisStore(backend_raw, namespace="sessions", expiration=EXPIRATION), backend_raw)


@pytest.mark.one_twin
def test_noscript_after_script_flush_on_every_cluster_node(cluster_client, redis_cluster):
    store = RedisStore(cluster_client, namespace="sessions", expiration=EXPIRATION)
    for key in KEYS:
        store.create(key, b"[1]")
        assert store.read_payload_sliding(key, TOUCH_AFTER).payload == b"[1]"
    for node in redis_cluster.nodes:
        node.client.script_flush()
    for key in KEYS:
        assert store.read_payload_sliding(key, TOUCH_AFTER).payload == b"[1]"
        assert store.compare_and_set(key, b"[1]", b"[2]").written
    owners = {
        redis_cluster.primary_for_slot(cluster_client.keyslot(b"sessions:" + key.encode())) for key in KEYS
    }
    assert len(owners) == 3  # the keys cover every primary, and each has both scripts again
    scripted_writes = not selected_server().capabilities.set_ifeq  # else SET IFEQ on every node
    for node in owners:
        assert node.client.script_exists(READ_AND_TOUCH.sha, COMPARE_AND_SET.sha) == [True, scripted_writes]


@pytest.fixture
def cluster_refusing_scripts(tmp_path):
    """A one-node cluster (all slots) with EVAL and EVALSHA renamed away."""
    node = Node(
        tmp_path,
        "solo",
        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
        *("--rename-command", "EVAL", "", "--rename-command", "EVALSHA", ""),
    )
    try:
        node.client.execute_command("CLUSTER ADDSLOTSRANGE", 0, 16383)
        wait_for("the cluster", lambda: node.client.execute_command("CLUSTER INFO")["cluster_state"] == "ok")
        client = RedisCluster(host=node.host, port=node.port, socket_timeout=5)
        yield client
        client.close()
    finally:
        node.stop()


@pytest.mark.one_twin
def test_a_cluster_refusing_scripts_reads_and_writes_through_the_fallbacks(cluster_refusing_scripts):
    scenario(
        RedisStore(cluster_refusing_scripts, namespace="sessions", expiration=EXPIRATION),
        cluster_refusing_scripts,
    )


@pytest.mark.one_twin
def test_a_cluster_client_without_transactions_gets_a_clear_error(cluster_refusing_scripts):
    """redis-py releases without cluster transactions refuse ``pipeline(transaction=True)`` like this."""
    real_pipeline = cluster_refusing_scripts.pipeline

    def pipeline(transaction=None, shard_hint=None):
        if transaction:
            raise RedisClusterException("transaction is deprecated in cluster mode")
        return real_pipeline(transaction=transaction, shard_hint=shard_hint)

    cluster_refusing_scripts.pipeline = pipeline
    store = RedisStore(cluster_refusing_scripts, namespace="sessions", expiration=EXPIRATION)
    assert store.create("k", b"[1]") and store.read_payload_sliding("k", TOUCH_AFTER).payload == b"[1]"
    node = cluster_refusing_scripts.get_default_node()
    if selected_server().capabilities.set_ifeq:  # SET IFEQ: no transaction needed at all
        assert store.compare_and_set("k", b"[1]", b"[2]").written and store.stats()["errors"] == 0
        return
    with pytest.raises(
        CompareAndSetUnavailableError, match=f"RedisCluster node 127.0.0.1:{node.port} refuses"
    ):
        store.compare_and_set("k", b"[1]", b"[2]")
    assert cluster_refusing_scripts.get(b"sessions:k") == b"[1]" and store.stats()["errors"] == 1
