"""PrometheusCollector: the stores' counts at scrape time, on a real server, both twins and paths."""

import uuid

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from support.commands import Commands
from support.servers import wait_for
from support.store_cache import GENEROUS, wait_cached

from hug_store_redis import RedisStore
from hug_store_redis.metrics import PrometheusCollector


def scraped(*stores) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(*stores))
    return registry


def value(registry, name, namespace, **labels):
    return registry.get_sample_value(f"hug_store_redis_{name}", {"namespace": namespace, **labels})


def test_the_series_follow_the_store(store):
    registry = scraped(store)
    ns = store.namespace
    assert value(registry, "writes_total", ns) == 0
    store.set("a", {"x": 1})  # 8 bytes
    store.get("a")
    assert not store.exists("missing") and store.read_payload("missing") is None
    assert store.create("b", b"{}") and not store.create("b", b"{}")
    store.note_skipped_write()
    assert store.delete("a")
    expected = {
        "reads_total": 2,
        "hits_total": 1,
        "misses_total": 1,
        "writes_total": 2,
        "creates_total": 1,
        "conflicts_total": 1,
        "merges_total": 0,
        "skipped_writes_total": 1,
        "deletes_total": 1,
        "errors_total": 0,
        "replica_wait_failures_total": 0,
        "bytes_in_total": 8,
        "bytes_out_total": 10,
        "write_bytes_bucket": 2,
        "write_bytes_sum": 10,
        "write_bytes_count": 2,
    }
    found = {
        name: value(registry, name, ns, **({"le": "256"} if "bucket" in name else {})) for name in expected
    }
    assert found == expected
    assert value(registry, "write_bytes_bucket", ns, le="+Inf") == 2
    assert value(registry, "write_attempts_count", ns) == 0
    # a store without a local cache publishes none of its series
    assert value(registry, "cache_serving", ns) is None
    assert b"hug_store_redis_cache" not in generate_latest(registry)


def test_a_scrape_sends_nothing_to_redis(store, redis_client):
    registry = scraped(store)
    store.set("a", 1)
    commands = Commands(redis_client)
    for _ in range(3):
        assert b'hug_store_redis_writes_total{namespace="store"} 1.0' in generate_latest(registry)
    assert commands.delta() == {}


def test_one_collector_for_several_stores_labels_each_namespace(redis_client):
    first, second = RedisStore(redis_client, "first"), RedisStore(redis_client, "second")
    first.set("a", 1)
    for registry in (scraped(first, second), scraped([first, second])):
        assert value(registry, "writes_total", "first") == 1
        assert value(registry, "writes_total", "second") == 0


def test_stores_that_cannot_be_told_apart_are_refused(redis_client):
    with pytest.raises(ValueError, match="share the namespace 'same'"):
        PrometheusCollector(RedisStore(redis_client, "same"), RedisStore(redis_client, "same"))
    with pytest.raises(ValueError, match="no store"):
        PrometheusCollector()
    with pytest.raises(TypeError, match="expected a RedisStore, got int"):
        PrometheusCollector(1)


def test_a_cached_store_publishes_its_cache_and_listener(redis_client):
    namespace = f"cached-{uuid.uuid4().hex[:8]}"
    with RedisStore(redis_client, namespace, local_cache=True) as store:
        registry = scraped(store)
        store.set("alice", {"v": 1})
        wait_cached(store, "alice")
        wait_for("serving", lambda: value(registry, "cache_serving", namespace) == 1, GENEROUS)
        assert value(registry, "cache_hits_total", namespace) >= 1
        assert value(registry, "cache_listener_reconnects_total", namespace) == 0
        for name in ("cache_misses_total", "cache_invalidations_total", "cache_flushes_total"):
            assert value(registry, name, namespace) is not None
