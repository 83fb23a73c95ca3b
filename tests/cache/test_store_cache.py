"""RedisStore(local_cache=...) on real servers: hits cost nothing, writes anywhere are seen.

Every test runs on both codec twins and both store paths. "Eventually" is a wait with a
generous deadline (support.store_cache.GENEROUS), never a timing assertion.
"""

import logging
import os
import uuid

import pytest
import redis
from hug.exceptions import StoreKeyNotFound
from support.commands import Commands
from support.servers import RedisServer, wait_for
from support.store_cache import (
    GENEROUS,
    invalidations_held,
    listeners_of,
    sent_by_the_store,
    wait_cached,
    wait_value,
)

from hug_store_redis import LocalCache, RedisStore
from hug_store_redis.store import WriteStatus


@pytest.fixture
def namespace() -> str:
    return f"cached-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cached_store(redis_client, namespace):
    store = RedisStore(redis_client, namespace, local_cache=True)
    yield store
    store.close()


def other_client(server_port: int) -> redis.Redis:
    return redis.Redis(port=server_port, socket_timeout=5)


def test_a_hit_sends_no_command(cached_store, redis_client):
    cached_store.set("alice", {"user": "alice"})
    wait_cached(cached_store, "alice")
    commands = Commands(redis_client)
    for _ in range(1000):
        assert cached_store.get("alice") == {"user": "alice"}
        assert cached_store.read_payload_sliding("alice", 60).payload == cached_store.encode(
            {"user": "alice"}
        )
    assert sent_by_the_store(commands) == {}
    stats = cached_store.stats()
    assert stats["cache_hits"] >= 2000
    assert {"cache_misses", "invalidations", "cache_flushes"} <= stats.keys()


def test_options_are_checked(redis_client):
    with pytest.raises(TypeError, match="local_cache"):
        RedisStore(redis_client, local_cache="yes")
    store = RedisStore(redis_client, local_cache=LocalCache(max_entries=7))
    assert store.local_cache is not None and store.local_cache.max_entries == 7
    store.close()
    assert RedisStore(redis_client).local_cache is None
    assert RedisStore(redis_client).stats()["cache_hits"] == 0


def test_a_write_by_another_client_is_seen(cached_store, redis_server):
    cached_store.set("alice", {"v": 1})
    wait_cached(cached_store, "alice")
    writer = other_client(redis_server.port)
    writer.set(cached_store.namespaced_key("alice"), b'{"v":2}')
    wait_value(cached_store, "alice", b'{"v":2}')
    assert cached_store.stats()["invalidations"] >= 1
    writer.close()


def test_logout_through_one_store_is_seen_by_another(redis_client, redis_server, namespace):
    store_a = RedisStore(redis_client, namespace, local_cache=True)
    client_b = other_client(redis_server.port)
    store_b = RedisStore(client_b, namespace, local_cache=True)
    try:
        store_a.set("alice", {"user": "alice"})
        wait_cached(store_a, "alice")
        wait_cached(store_b, "alice")
        assert store_a.delete("alice")
        with pytest.raises(StoreKeyNotFound):
            store_a.get("alice")  # its own delete: at once
        wait_for("store B to see the logout", lambda: store_b.read_payload("alice") is None, GENEROUS)
    finally:
        store_a.close()
        store_b.close()
        client_b.close()


def test_own_writes_are_read_at_once_before_any_invalidation(cached_store):
    """Read-your-writes does not wait for the server's invalidation: it is held back here."""
    cached_store.set("alice", {"v": 1})
    wait_cached(cached_store, "alice")
    with invalidations_held(cached_store):
        cached_store.set("alice", {"v": 2})
        assert cached_store.get("alice") == {"v": 2}
        cached_store.write_payload("alice", b'{"v":3}')
        assert cached_store.read_payload("alice") == b'{"v":3}'
        assert cached_store.create_replacing("bob", b'{"v":4}', "alice")
        assert cached_store.read_payload("alice") is None


def test_compare_and_set_against_stale_cached_bytes_merges(cached_store, redis_server):
    """The caller's base is the cached bytes; if they are stale the write conflicts, never overwrites."""
    cached_store.set("alice", {"v": 1})
    wait_cached(cached_store, "alice")
    writer = other_client(redis_server.port)
    with invalidations_held(cached_store):
        writer.set(cached_store.namespaced_key("alice"), b'{"v":2}')
        base = cached_store.read_payload_sliding("alice", 60).payload
        assert base == cached_store.encode({"v": 1})  # stale, served within the invalidation delay
        outcome = cached_store.compare_and_set("alice", base, b'{"v":1,"mine":true}')
        assert outcome.status is WriteStatus.CONFLICT and outcome.current == b'{"v":2}'
        assert cached_store.read_payload("alice") == b'{"v":2}'  # the conflict dropped the stale copy
        assert cached_store.compare_and_set("alice", b'{"v":2}', b'{"v":2,"mine":true}').written
    assert writer.get(cached_store.namespaced_key("alice")) == b'{"v":2,"mine":true}'
    writer.close()


def test_a_read_racing_a_write_never_installs_stale_bytes(cached_store, redis_server):
    """The write lands, and its invalidation is applied, between our read and its reply."""
    cached_store.set("alice", {"v": 1})
    cached = cached_store._cached
    writer = other_client(redis_server.port)
    wait_for("serving", lambda: cached.cache.serving, GENEROUS)
    real_transport = cached._transport

    class WriteDuringRead:
        def read_sliding(self, key, touch_below_ms):
            reply = real_transport.read_sliding(key, touch_below_ms)
            before = cached.cache.stats()["invalidations"]
            writer.set(cached_store.namespaced_key("alice"), b'{"v":2}')
            wait_for("the invalidation", lambda: cached.cache.stats()["invalidations"] > before, GENEROUS)
            return reply

    cached._transport = WriteDuringRead()
    try:
        assert cached_store.read_payload("alice") == cached_store.encode(
            {"v": 1}
        )  # began before the write: fine
    finally:
        cached._transport = real_transport
    assert cached_store.read_payload("alice") == b'{"v":2}'
    writer.close()


def test_client_kill_of_the_listener_empties_the_cache(cached_store, redis_client):
    cached_store.set("alice", {"v": 1})
    wait_cached(cached_store, "alice")
    flushes = cached_store.stats()["cache_flushes"]
    (listener,) = listeners_of(cached_store)
    sessions = listener.sessions
    assert cached_store.stats()["cache_reconnects"] == 0
    redis_client.client_kill_filter(_id=listener.client_id)
    wait_for("the cache to be emptied", lambda: cached_store.stats()["cache_flushes"] > flushes, GENEROUS)
    redis_client.set(cached_store.namespaced_key("alice"), b'{"v":2}')
    wait_value(cached_store, "alice", b'{"v":2}')  # max_age (60 s) alone would not get here in time
    wait_for("a new tracking connection", lambda: listener.sessions > sessions, GENEROUS)
    wait_cached(cached_store, "alice")
    assert cached_store.stats()["cache_reconnects"] == 1
    wait_for("the cache serving", lambda: cached_store.stats()["cache_serving"] == 1, GENEROUS)


def test_a_cache_whose_listener_cannot_connect_reports_it_fails_closed(own_server):
    client = redis.Redis(port=own_server.port, socket_timeout=5)
    with RedisStore(client, "closed", local_cache=True) as store:
        store.set("alice", {"v": 1})
        wait_cached(store, "alice")
        wait_for("the cache serving", lambda: store.stats()["cache_serving"] == 1, GENEROUS)
        own_server.stop()
        wait_for("the cache to fail closed", lambda: store.stats()["cache_serving"] == 0, GENEROUS)
        assert store.stats()["cache_reconnects"] == 0


def test_flushall_empties_the_cache(cached_store, redis_client):
    cached_store.set("alice", {"v": 1})
    wait_cached(cached_store, "alice")
    redis_client.flushall()
    wait_for("the flush", lambda: cached_store.read_payload("alice") is None, GENEROUS)


def test_swapdb_empties_the_cache(cached_store, redis_client, redis_server, twin, store_path):
    """Redis 7.0 pushes no invalidation for SWAPDB (nor a keyspace event): the heartbeats see it."""
    with redis.Redis(host=redis_server.host, port=redis_server.port, db=1, socket_timeout=5) as db1:
        db1.set(cached_store.namespaced_key("alice"), b'{"db":1}')
    cached_store.set("alice", {"db": 0})
    wait_cached(cached_store, "alice")
    redis_client.swapdb(0, 1)
    wait_value(cached_store, "alice", b'{"db":1}')  # max_age (60 s) alone would not get here in time
    assert cached_store.stats()["cache_flushes"] >= 1
    assert [listener.swaps_seen for listener in listeners_of(cached_store)] == [1]


def test_a_restarted_server_empties_the_cache(own_server: RedisServer, namespace):
    client = redis.Redis(port=own_server.port, socket_timeout=5)
    store = RedisStore(client, namespace, local_cache=True)
    try:
        store.set("alice", {"v": 1})
        wait_cached(store, "alice")
        own_server.stop()
        own_server.start()  # same port, empty
        wait_for("the restart to be noticed", lambda: store.read_payload("alice") is None, GENEROUS)
        store.set("alice", {"v": 2})
        wait_cached(store, "alice")
        assert store.get("alice") == {"v": 2}
    finally:
        store.close()
        client.close()


def test_a_forked_child_starts_empty_and_serves_on_its_own(cached_store, redis_server):
    cached_store.set("alice", {"v": 1})
    wait_cached(cached_store, "alice")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, exit without pytest's teardown
        try:
            cache = cached_store.local_cache
            empty = len(cache) == 0 and not cache.serving
            commands = Commands(other_client(redis_server.port))
            from_redis = cached_store.get("alice") == {"v": 1} and commands.delta().get("evalsha", 0) >= 1
            wait_cached(cached_store, "alice")
            os.write(write_end, b"ok" if empty and from_redis else b"wrong")
        except BaseException as error:
            os.write(write_end, repr(error).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        report = os.read(read_end, 4096)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert report == b"ok"
    assert cached_store.get("alice") == {"v": 1}  # the parent still serves


def test_bounds_hold_through_the_store(redis_client, namespace):
    store = RedisStore(redis_client, namespace, local_cache=LocalCache(max_entries=3, max_bytes=10_000))
    try:
        for index in range(10):
            store.set(f"user-{index}", {"index": index})
        wait_for("serving", lambda: store.local_cache.serving, GENEROUS)
        for _ in range(3):
            for index in range(10):
                store.get(f"user-{index}")
        assert len(store.local_cache) <= 3
        assert store.local_cache.stats()["evictions"] > 0
    finally:
        store.close()


def test_a_server_without_tracking_runs_without_the_cache(tmp_path, namespace, caplog):
    server = RedisServer(tmp_path, "--rename-command", "CLIENT", "").start()
    client = redis.Redis(port=server.port, socket_timeout=5)
    try:
        store = RedisStore(client, namespace, local_cache=True)
        store.set("alice", {"v": 1})
        with caplog.at_level(logging.WARNING, logger="hug_store_redis"):
            wait_for(
                "the store to give the cache up", lambda: store.get("alice") and store.local_cache is None
            )
            for _ in range(20):
                assert store.get("alice") == {"v": 1}
            store.set("alice", {"v": 2})
            assert store.get("alice") == {"v": 2}
        reasons = [r.getMessage() for r in caplog.records if "local cache off" in r.getMessage()]
        assert len(reasons) == 1 and "refused invalidation tracking" in reasons[0], reasons
    finally:
        client.close()
        server.stop()


def test_the_expiry_still_slides_on_hits(redis_client, namespace):
    """A hit whose touch is due hands it to the background sender; the expiry slides, never lapses."""
    store = RedisStore(redis_client, namespace, expiration=100, local_cache=True)
    toucher = store._cached._toucher
    submitted = []
    real_submit = toucher.submit
    toucher.submit = lambda key, below: submitted.append(key) or real_submit(key, below)
    try:
        store.set("alice", {"v": 1})
        full_key = store.namespaced_key("alice")
        wait_cached(store, "alice")  # read without touching: the entry knows the key's expiry
        # touch_after=1: a touch is due one second after the write, while the entry is cached
        wait_for(
            "a touch", lambda: store.read_payload_sliding("alice", 1) and store.stats()["touches"], GENEROUS
        )
        assert submitted and set(submitted) == {"alice"}
        assert redis_client.pttl(full_key) > 99_000 - 1_000 * GENEROUS
        wait_cached(store, "alice")  # the touched key is cached again
    finally:
        store.close()


def test_a_saturated_touch_sender_drops_the_entry_instead(redis_client, namespace):
    """Nothing queued: the due entry goes, and the next read (a miss) touches in the request."""
    store = RedisStore(redis_client, namespace, expiration=100, local_cache=True)
    ran = []
    store._cached._toucher._touch = lambda key, below: ran.append(key)
    store._cached._toucher.submit = lambda key, below: False  # as when its queue is full
    try:
        store.set("alice", {"v": 1})
        wait_cached(store, "alice")
        wait_for(
            "a touch", lambda: store.read_payload_sliding("alice", 1) and store.stats()["touches"], GENEROUS
        )
        assert ran == []
        assert redis_client.pttl(store.namespaced_key("alice")) > 99_000 - 1_000 * GENEROUS
    finally:
        store.close()


def test_the_touch_sender_is_bounded_and_queues_a_key_once():
    import threading

    from hug_store_redis.cache.cached_reads import Toucher

    release = threading.Event()
    done = []

    def touch(key, below):
        release.wait(GENEROUS)
        done.append(key)

    toucher = Toucher(touch, limit=3)
    assert toucher.submit("a", 1) and toucher.submit("a", 1)
    assert toucher.submit("b", 1) and toucher.submit("c", 1)
    assert not toucher.submit("d", 1)  # three wait already
    assert toucher.waiting == 3
    release.set()
    wait_for("the queue to drain", lambda: toucher.waiting == 0, GENEROUS)
    assert sorted(done) == ["a", "b", "c"]
    assert toucher.submit("d", 1)


def test_a_decoding_client_reads_correctly_and_caches_nothing(redis_server, namespace):
    client = redis.Redis(port=redis_server.port, decode_responses=True, socket_timeout=5)
    store = RedisStore(client, namespace, local_cache=True)
    try:
        store.set("alice", {"v": 1})
        wait_for("serving", lambda: store.local_cache.serving, GENEROUS)
        for _ in range(5):
            assert store.get("alice") == {"v": 1}
            assert store.read_payload_sliding("alice", 60).payload == '{"v": 1}'
        assert store.stats()["cache_hits"] == 0 and len(store.local_cache) == 0
    finally:
        store.close()
        client.close()


def test_one_cache_is_refused_for_a_second_database(redis_server, redis_client, namespace, twin, store_path):
    """Entries are keyed by key name: db 1's store would read db 0's value from a shared cache."""
    db1 = redis.Redis(host=redis_server.host, port=redis_server.port, db=1, socket_timeout=5)
    cache = LocalCache()
    first = RedisStore(redis_client, namespace, local_cache=cache)
    first.set("alice", {"db": 0})
    wait_cached(first, "alice")
    db1.set(first.namespaced_key("alice"), b'{"db":1}')
    with pytest.raises(ValueError, match=r"db 0.*db 1.*its own LocalCache"):
        RedisStore(db1, namespace, local_cache=cache)
    second = RedisStore(db1, namespace, local_cache=LocalCache())
    assert second.get("alice") == {"db": 1} and first.get("alice") == {"db": 0}
    same_db = RedisStore(
        redis.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=5),
        namespace,
        local_cache=cache,
    )
    assert same_db.local_cache is cache and same_db.get("alice") == {"db": 0}
    for store in (first, second, same_db):
        store.close()
    db1.flushdb()
    db1.close()


def test_one_cache_is_refused_for_a_second_server(redis_client, own_server, namespace, twin, store_path):
    cache = LocalCache()
    first = RedisStore(redis_client, namespace, local_cache=cache)
    other = redis.Redis(port=own_server.port, socket_timeout=5)
    with pytest.raises(ValueError, match="its own LocalCache"):
        RedisStore(other, namespace, local_cache=cache)
    first.close()
    other.close()


def test_an_empty_local_cache_is_used_not_taken_for_false(redis_client, namespace, twin, store_path):
    cache = LocalCache()
    assert len(cache) == 0 and cache  # sized, yet truthy when empty
    store = RedisStore(redis_client, namespace, local_cache=cache or False)
    assert store.local_cache is cache
    store.set("alice", {"v": 1})
    wait_cached(store, "alice")
    assert len(cache) == 1
    store.close()
