"""Writes through any client reach the cache: the listener on a real redis-server.

Every wait is for an event (an invalidation received, the cache serving) with a generous
deadline; nothing asserts how long it took.
"""

import pytest
import redis
from support.cache import PREFIX, key, read, start_listener, wait_serving
from support.servers import wait_for

from hug_store_redis.cache import InvalidationListener, LocalCache, shared_listener

pytestmark = pytest.mark.one_twin


def tracking_clients(client: redis.Redis) -> list[dict]:
    return [entry for entry in client.client_list() if entry["name"] == "hug_store_redis:invalidations"]


def test_serves_on_one_bcast_tracking_connection(listener, cache, redis_client):
    (tracked,) = tracking_clients(redis_client)
    assert int(tracked["id"]) == listener.client_id
    assert "t" in tracked["flags"] and "B" in tracked["flags"]  # tracking, broadcast mode
    assert tracked["resp"] == "3"
    assert cache.serving and listener.sessions == 1


def test_a_second_read_is_a_hit(listener, cache, redis_client, invalidations):
    redis_client.set(key("a"), b"v1")
    invalidations.wait_for_key(key("a"))  # else it may void the read below, as it should
    assert read(cache, redis_client, key("a")) == b"v1"
    assert cache.get(key("a")) == b"v1"
    assert cache.stats()["hits"] == 1


@pytest.mark.parametrize(
    "write",
    [
        lambda client, name: client.set(name, b"v2"),
        lambda client, name: client.delete(name),
        lambda client, name: client.expire(name, 100),
        lambda client, name: client.append(name, b"!"),
        lambda client, name: client.rename(name, name + b"-renamed"),
    ],
    ids=["SET", "DEL", "EXPIRE", "APPEND", "RENAME"],
)
def test_a_write_from_another_client_invalidates(listener, cache, redis_client, invalidations, write):
    redis_client.set(key("a"), b"v1")
    invalidations.wait_for_key(key("a"))  # our own SET, before anything is cached
    assert read(cache, redis_client, key("a")) == b"v1"
    other = redis.Redis(port=redis_client.connection_pool.connection_kwargs["port"])
    write(other, key("a"))
    invalidations.wait_for_key(key("a"))
    assert len(cache) == 0
    assert read(cache, redis_client, key("a")) == redis_client.get(key("a"))
    other.close()


def test_expiry_in_redis_invalidates(listener, cache, redis_client, invalidations):
    redis_client.set(key("a"), b"v1", px=300)
    invalidations.wait_for_key(key("a"))
    assert read(cache, redis_client, key("a")) == b"v1"
    invalidations.wait_for_key(key("a"))  # Redis expired the key and said so
    assert len(cache) == 0  # removed by the invalidation, not just hidden by the deadline


def test_keys_outside_the_namespace_are_not_sent(listener, cache, redis_client, invalidations):
    redis_client.set(b"elsewhere:a", b"v")
    redis_client.set(key("marker"), b"v")
    invalidations.wait_for_key(key("marker"))
    assert invalidations.received.empty()
    assert cache.stats()["invalidations"] == 1


def test_a_read_that_races_a_write_is_returned_but_not_cached(listener, cache, redis_client, invalidations):
    """The placeholder: the write lands between our read's reply and its installation."""
    redis_client.set(key("a"), b"old")
    invalidations.wait_for_key(key("a"))
    token = cache.begin_read(key("a"))
    payload = redis_client.get(key("a"))  # the read the store sends
    redis_client.set(key("a"), b"new")  # another server writes before we install
    invalidations.wait_for_key(key("a"))
    assert payload == b"old"
    assert not cache.finish_read(token, payload, redis_client.pttl(key("a")))
    assert cache.get(key("a")) is None
    assert read(cache, redis_client, key("a")) == b"new"
    assert cache.get(key("a")) == b"new"


def test_without_a_write_in_between_the_read_is_cached(listener, cache, redis_client, invalidations):
    """The control of the race test: same steps, no write."""
    redis_client.set(key("a"), b"old")
    invalidations.wait_for_key(key("a"))
    token = cache.begin_read(key("a"))
    payload = redis_client.get(key("a"))
    assert cache.finish_read(token, payload, -1)
    assert cache.get(key("a")) == b"old"


def test_flushall_empties_the_cache_and_it_keeps_serving(listener, cache, redis_client, invalidations):
    redis_client.set(key("a"), b"v1")
    invalidations.wait_for_key(key("a"))
    read(cache, redis_client, key("a"))
    token = cache.begin_read(key("b"))
    redis_client.flushall()
    invalidations.wait_for_flush()
    assert len(cache) == 0 and cache.stats()["flushes"] == 1
    assert not cache.finish_read(token, b"stale", -1)
    assert cache.serving
    redis_client.set(key("a"), b"v2")
    invalidations.wait_for_key(key("a"))
    assert read(cache, redis_client, key("a")) == b"v2" and cache.get(key("a")) == b"v2"


def test_namespaces_share_one_connection(redis_server, redis_client, invalidations):
    """Stores on one namespace or nested ones: one tracking connection, each cache gets its keys once."""
    inner, same_namespace, outer = LocalCache(), LocalCache(), LocalCache()
    listener = start_listener(redis_server.port, inner, invalidations)
    listener.attach(inner, PREFIX)  # attached twice: still one subscription
    listener.attach(same_namespace, PREFIX)  # nothing new for Redis to track
    listener.attach(outer, PREFIX[:4])  # covers PREFIX: Redis needs the set registered afresh
    try:
        for cache in (inner, same_namespace, outer):
            wait_serving(cache)
        assert len(tracking_clients(redis_client)) == 1
        redis_client.set(key("a"), b"v")
        redis_client.set(b"cach", b"v")  # under the outer prefix only
        invalidations.wait_for_key(b"cach")
        counts = [cache.stats()["invalidations"] for cache in (inner, same_namespace, outer)]
        assert counts == [1, 1, 2]
        assert read(outer, redis_client, b"cach") == b"v" and outer.get(b"cach") == b"v"
    finally:
        listener.close()
    assert not any(cache.serving for cache in (inner, same_namespace, outer))


def test_a_password_is_sent_with_hello(own_server, tmp_path, invalidations):
    own_server.stop()
    own_server.arguments = ("--requirepass", "s3cret")
    own_server.start()
    good, bad = LocalCache(), LocalCache()
    listeners = [
        start_listener(own_server.port, good, invalidations, password="s3cret"),
        start_listener(own_server.port, bad, invalidations, password="wrong"),
    ]
    try:
        wait_serving(good)
        wait_for("the bad password to be reported", lambda: listeners[1].last_error is not None)
        assert "WRONGPASS" in str(listeners[1].last_error)
        assert not bad.serving
    finally:
        for listener in listeners:
            listener.close()


def test_bad_options_are_refused_by_name():
    with pytest.raises(ValueError, match="heartbeat_timeout"):
        InvalidationListener(("127.0.0.1", 1), heartbeat_timeout=0)
    with pytest.raises(TypeError, match="heartbeat_interval"):
        InvalidationListener(("127.0.0.1", 1), heartbeat_interval="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix"):
        InvalidationListener(("127.0.0.1", 1)).attach(LocalCache(), "")


def test_stores_on_one_server_get_the_same_listener(redis_server, redis_client):
    first = shared_listener("127.0.0.1", redis_server.port)
    sessions, carts = LocalCache(), LocalCache()
    try:
        assert shared_listener("127.0.0.1", redis_server.port) is first
        first.attach(sessions, "sessions:")
        first.attach(carts, "carts:")
        wait_serving(sessions)
        wait_serving(carts)
        assert len(tracking_clients(redis_client)) == 1
    finally:
        first.close()
