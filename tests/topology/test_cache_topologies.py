"""The local cache on Redis Cluster and Sentinel: listeners on the primaries, flushed when they change.

Cluster and Sentinel clients always take the generic path, so these run once (``one_twin``).
"""

import uuid

import pytest
from support.cache import close_every_listener
from support.commands import Commands
from support.servers import HOST, wait_for
from support.store_cache import GENEROUS, listeners_of, sent_by_the_store, wait_cached, wait_value

from hug_store_redis import RedisStore

pytestmark = pytest.mark.one_twin


@pytest.fixture(autouse=True)
def no_listener_outlives_its_test():
    yield
    close_every_listener()


def tracking_clients(client) -> int:
    return sum(entry["name"] == "hug_store_redis:invalidations" for entry in client.client_list())


def test_cluster_hits_send_nothing_and_writes_anywhere_are_seen(redis_cluster, cluster_client):
    store = RedisStore(cluster_client, f"cached-{uuid.uuid4().hex[:8]}", local_cache=True)
    try:
        assert len(listeners_of(store)) == 3  # one per primary
        names = [f"user-{index}" for index in range(12)]  # spread over the three primaries
        for name in names:
            store.set(name, {"name": name})
        for name in names:
            wait_cached(store, name)
        commands = Commands(cluster_client, only={"get", "evalsha", "eval", "pttl"})
        for _ in range(50):
            for name in names:
                assert store.get(name) == {"name": name}
        assert sent_by_the_store(commands) == {}
        writer = redis_cluster.client()
        for name in names:
            writer.set(store.namespaced_key(name), b'"changed"')
        for name in names:
            wait_value(store, name, b'"changed"')
        writer.close()
    finally:
        store.close()


def test_cluster_failover_flushes_and_follows_the_new_primary(redis_cluster, cluster_client):
    store = RedisStore(cluster_client, f"cached-{uuid.uuid4().hex[:8]}", local_cache=True)
    sources = store._cached.sources
    serving_after_refresh = []
    real_refreshed = sources.refreshed

    def refreshed():
        real_refreshed()
        serving_after_refresh.append(store.local_cache.serving)

    sources.refreshed = refreshed
    try:
        store.set("alice", {"v": 1})
        wait_cached(store, "alice")
        slot = cluster_client.keyslot(store.namespaced_key("alice"))
        flushes = store.stats()["cache_flushes"]
        old, new = redis_cluster.failover(slot)
        # The client learns of the failover from a MOVED; its slot map changes, the cache empties.
        store.set("alice", {"v": 2})
        assert store.stats()["cache_flushes"] > flushes
        assert serving_after_refresh and serving_after_refresh[0] is False
        addresses = {listener._address for listener in listeners_of(store)}
        assert (HOST, new.port) in addresses and (HOST, old.port) not in addresses
        assert tracking_clients(new.client) >= 1
        wait_cached(store, "alice")
        assert store.get("alice") == {"v": 2}
        writer = redis_cluster.client()
        writer.set(store.namespaced_key("alice"), b'{"v":3}')  # on the new primary
        wait_value(store, "alice", b'{"v":3}')
        writer.close()
    finally:
        store.close()
        redis_cluster.wait_healthy()


def test_sentinel_cache_follows_a_switch(redis_sentinel, sentinel_master):
    store = RedisStore(sentinel_master, f"cached-{uuid.uuid4().hex[:8]}", local_cache=True)
    try:
        store.set("alice", {"v": 1})
        wait_cached(store, "alice")
        commands = Commands(sentinel_master, only={"get", "evalsha", "eval"})
        for _ in range(100):
            assert store.get("alice") == {"v": 1}
        assert sent_by_the_store(commands) == {}
        flushes = store.stats()["cache_flushes"]
        (listener,) = listeners_of(store)
        sessions, resets = listener.sessions, listener._generation
        redis_sentinel.failover()
        wait_for(
            "the follower to see the switch", lambda: store.get("alice") and listener.sessions > sessions
        )
        assert store.stats()["cache_flushes"] > flushes
        # Sentinel also kills the demoted primary's clients; the switch event does not wait for that.
        wait_for(
            "the switch to reset the listener", lambda: store.get("alice") and listener._generation > resets
        )
        new_primary = next(
            n for n in redis_sentinel.data_nodes if n.port == redis_sentinel.current_primary_port()
        )
        wait_for("tracking on the new primary", lambda: tracking_clients(new_primary.client) >= 1, GENEROUS)
        writer = redis_sentinel.master_for(socket_timeout=5)
        writer.set(store.namespaced_key("alice"), b'{"v":2}')
        wait_value(store, "alice", b'{"v":2}')
        writer.close()
    finally:
        store.close()
