"""RedisStore.close(): the cache stops listening, the threads the store started end, the store still works."""

import threading
import uuid

import pytest
import redis
from support.commands import Commands
from support.servers import RedisServer, wait_for
from support.store_cache import GENEROUS, listeners_of, sent_by_the_store, wait_cached, wait_value

from hug_store_redis import RedisStore


@pytest.fixture
def namespace() -> str:
    return f"closing-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def own_client(own_server: RedisServer):
    client = redis.Redis(port=own_server.port, socket_timeout=5)
    yield client
    client.close()


def listener_connections(client: redis.Redis) -> list[dict]:
    return [c for c in client.client_list() if c["name"] == "hug_store_redis:invalidations"]


def test_closing_the_last_store_ends_its_listener(own_client, namespace):
    store = RedisStore(own_client, namespace, expiration=100, local_cache=True)
    store.set("alice", {"v": 1})
    wait_cached(store, "alice")
    wait_for("a touch", lambda: store.read_payload_sliding("alice", 1) and store.stats()["touches"], GENEROUS)
    (listener,) = listeners_of(store)
    listener_thread, toucher_thread = listener._thread, store._cached._toucher._thread
    assert listener_thread.is_alive() and toucher_thread.is_alive()
    hits = store.stats()["cache_hits"]
    store.close()
    listener_thread.join(GENEROUS)
    assert not listener_thread.is_alive() and not toucher_thread.is_alive()
    wait_for("the listener's connection to go", lambda: not listener_connections(own_client), GENEROUS)
    assert store.local_cache is None and store.stats()["cache_hits"] == hits  # counts are kept


def test_a_closed_store_reads_and_writes_through_redis(own_client, namespace):
    store = RedisStore(own_client, namespace, local_cache=True)
    store.set("alice", {"v": 1})
    wait_cached(store, "alice")
    store.close()
    store.close()  # idempotent
    for read in (lambda: store.get("alice") == {"v": 1}, lambda: store.read_payload("alice") == b'{"v": 1}'):
        commands = Commands(own_client)
        assert read()
        assert sent_by_the_store(commands)  # went to Redis
    own_client.set(store.namespaced_key("alice"), b'{"v":2}')
    assert store.get("alice") == {"v": 2}  # at once: nothing cached, nothing to invalidate
    store.set("alice", {"v": 3})
    assert own_client.get(store.namespaced_key("alice")) == b'{"v": 3}'


def test_another_store_on_the_shared_listener_keeps_serving(own_client, own_server, namespace):
    staying = RedisStore(own_client, namespace, local_cache=True)
    leaving = RedisStore(own_client, f"{namespace}-other", local_cache=True)
    try:
        assert listeners_of(staying) == listeners_of(leaving)
        (listener,) = listeners_of(staying)
        staying.set("alice", {"v": 1})
        leaving.set("bob", {"v": 1})
        wait_cached(staying, "alice")
        wait_cached(leaving, "bob")
        sessions = listener.sessions
        leaving.close()
        commands = Commands(own_client)
        for _ in range(100):
            assert staying.get("alice") == {"v": 1}
        assert sent_by_the_store(commands) == {}
        assert listener._thread.is_alive() and listener.sessions == sessions  # the same connection
        own_client.set(staying.namespaced_key("alice"), b'{"v":2}')
        wait_value(staying, "alice", b'{"v":2}')
    finally:
        staying.close()


def test_a_store_made_after_the_listener_ended_brings_it_back(own_client, namespace):
    with RedisStore(own_client, namespace, local_cache=True) as first:
        first.set("alice", {"v": 1})
        wait_cached(first, "alice")
        (listener,) = listeners_of(first)
        thread = listener._thread
    thread.join(GENEROUS)
    assert not thread.is_alive()  # leaving the with block closed the store
    with RedisStore(own_client, namespace, local_cache=True) as second:
        assert listeners_of(second) == [listener]
        wait_cached(second, "alice")


@pytest.mark.one_twin
def test_closing_while_another_store_attaches_leaves_it_served(own_client, namespace):
    """The listener's thread decides to end under its lock: a cache attached meanwhile is never orphaned."""
    for attempt in range(10):
        leaving = RedisStore(own_client, f"{namespace}-{attempt}", local_cache=True)
        leaving.set("alice", {"v": attempt})
        wait_cached(leaving, "alice")
        closer = threading.Thread(target=leaving.close)
        closer.start()
        arriving = RedisStore(own_client, f"{namespace}-{attempt}-b", local_cache=True)
        closer.join()
        arriving.set("alice", {"v": attempt})
        wait_cached(arriving, "alice")
        arriving.close()
