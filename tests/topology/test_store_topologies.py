"""The store suite on a real Redis Cluster and through Sentinel.

``backend_raw`` is a client of the deployment, flushed; ``backend_store`` a RedisStore on
it. Each test runs on both codec twins unless marked ``one_twin``.
"""

import time

import pytest
from hug.exceptions import StoreKeyNotFound

from hug_store_redis import CorruptSessionError, RedisStore


@pytest.fixture(params=["cluster", "sentinel"])
def backend_raw(request):
    return request.getfixturevalue("cluster_client" if request.param == "cluster" else "sentinel_master")


@pytest.fixture
def backend_store(backend_raw):
    return RedisStore(backend_raw, namespace="sessions", expiration=3600)


#: Keys chosen to land on different cluster slots (and so on different primaries).
KEYS = ["alice", "bob", "carol", "dave", "ключ", "😀", "\ud800", "a:b", "*", "{tag}x"]


def test_set_get_exists_delete(backend_store):
    for key in KEYS:
        assert not backend_store.exists(key)
        backend_store.set(key, {"key": key, "n": [1, 2.5, None, True]})
    for key in KEYS:
        assert backend_store.exists(key)
        assert backend_store.get(key) == {"key": key, "n": [1, 2.5, None, True]}
        assert backend_store.delete(key) is True
        assert backend_store.delete(key) is False
        with pytest.raises(StoreKeyNotFound):
            backend_store.get(key)


def test_value_is_plain_json_at_namespace_key(backend_store, backend_raw):
    backend_store.set("k1", {"name": "Zoë"})
    assert backend_raw.get(b"sessions:k1") == b'{"name": "Zo\\u00eb"}'
    assert 0 < backend_raw.ttl(b"sessions:k1") <= 3600


def test_bad_data_raises_and_keeps_the_old_value(backend_store, backend_raw):
    backend_store.set("k", {"ok": 1})
    with pytest.raises(TypeError):
        backend_store.set("k", {"bad": {1, 2}})
    with pytest.raises(ValueError):
        backend_store.set("k", {"bad": float("nan")})
    assert backend_raw.get(b"sessions:k") == b'{"ok": 1}'
    assert backend_store.get("k") == {"ok": 1}


def test_corrupt_value_is_reported_and_left_alone(backend_store, backend_raw):
    backend_raw.set(b"sessions:k", b"\xff{")
    with pytest.raises(CorruptSessionError):
        backend_store.get("k")
    assert backend_raw.get(b"sessions:k") == b"\xff{"


def test_read_payload_with_touch_restarts_the_expiry(backend_store, backend_raw):
    backend_store.set("k", [1])
    backend_raw.expire(b"sessions:k", 10)
    assert backend_store.read_payload("k", touch=True) == b"[1]"
    assert backend_raw.ttl(b"sessions:k") > 10


@pytest.mark.one_twin
def test_keys_expire(backend_raw):
    store = RedisStore(backend_raw, namespace="short", expiration=1)
    store.set("k", 1)
    assert store.exists("k")
    deadline = time.monotonic() + 5
    while store.exists("k") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not store.exists("k")
    with pytest.raises(StoreKeyNotFound):
        store.get("k")


@pytest.mark.one_twin
def test_admin_count_ids_clear(backend_store, backend_raw):
    other = RedisStore(backend_raw, namespace="sessions2")
    for key in KEYS:
        backend_store.set(key, 1)
        other.set(key, 2)
    assert backend_store.count() == len(KEYS)
    assert sorted(backend_store.ids()) == sorted(KEYS)
    assert backend_store.clear() == len(KEYS)
    assert backend_store.count() == 0
    assert sorted(other.ids()) == sorted(KEYS)


@pytest.mark.one_twin
def test_touch_and_ttl(backend_store, backend_raw):
    assert backend_store.touch("k") is False
    backend_store.set("k", 1)
    backend_raw.expire(b"sessions:k", 5)
    assert backend_store.ttl("k") <= 5
    assert backend_store.touch("k") is True
    assert 5 < backend_store.ttl("k") <= 3600
