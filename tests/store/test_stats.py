"""store.stats(): exact counts on both paths and both twins, under threads too."""

import threading

import pytest
import redis
from hug.exceptions import StoreKeyNotFound
from redis.backoff import NoBackoff
from redis.retry import Retry

from hug_store_redis import CorruptSessionError, RedisStore
from hug_store_redis.errors import NotReplicatedError
from hug_store_redis.store import Histogram

CACHE_COUNTS = ("cache_hits", "cache_misses", "invalidations", "cache_flushes", "cache_reconnects")


def test_counts_follow_the_operations(redis_client):
    store = RedisStore(redis_client)
    assert store.stats() == dict.fromkeys(
        [
            *("hits", "misses", "touches", "writes", "creates", "skipped_writes", "conflicts", "merges"),
            *("deletes", "errors", "replica_wait_failures", "bytes_in", "bytes_out"),
            *CACHE_COUNTS,
            "cache_serving",
        ],
        0,
    )
    store.set("a", {"x": 1})  # 8 bytes: {"x": 1}
    store.set("b", [1, 2])  # 6 bytes: [1, 2]
    assert store.get("a") == {"x": 1}
    with pytest.raises(StoreKeyNotFound):
        store.get("missing")
    assert store.read_payload("b", touch=True) == b"[1, 2]"
    assert store.exists("a")
    assert store.delete("a") and not store.delete("a")
    store.note_skipped_write()
    assert store.stats() == {
        "hits": 2,
        "misses": 1,
        "touches": 1,
        "writes": 2,
        "creates": 0,
        "skipped_writes": 1,
        "conflicts": 0,
        "merges": 0,
        "deletes": 1,
        "errors": 0,
        "replica_wait_failures": 0,
        "bytes_in": 8 + 6,
        "bytes_out": 8 + 6,
        **dict.fromkeys((*CACHE_COUNTS, "cache_serving"), 0),
    }


def test_creates_are_writes_counted_apart_and_a_taken_id_is_a_conflict(redis_client):
    store = RedisStore(redis_client)
    assert store.create("a", b"{}")
    assert store.create_replacing("b", b'{"x":1}', "a")
    assert not store.create("b", b"{}")
    stats = store.stats()
    assert (stats["creates"], stats["writes"], stats["conflicts"]) == (2, 2, 1)
    assert stats["bytes_out"] == 2 + 7


def test_the_written_sizes_fall_into_their_buckets(redis_client):
    store = RedisStore(redis_client)
    assert store.histograms()["write_bytes"] == Histogram(
        (256, 1024, 4096, 16384, 65536, 262144, 1048576), (0,) * 8, 0
    )
    for size in (2, 256, 257, 5000, 2_000_000):
        store.write_payload("k", b"1" * size)
    assert store.create("c", b"1" * 1024)
    written = store.histograms()["write_bytes"]
    assert written.counts == (2, 2, 0, 1, 0, 0, 0, 1)
    assert written.sum == store.stats()["bytes_out"] == 2 + 256 + 257 + 5000 + 2_000_000 + 1024
    assert written.total == store.stats()["writes"] == 6


def test_a_failed_replica_wait_is_counted_apart_from_other_errors(redis_client):
    store = RedisStore(redis_client, namespace="w", wait_replicas=1, wait_timeout_ms=20)
    with pytest.raises(NotReplicatedError):
        store.set("k", 1)
    with pytest.raises(NotReplicatedError):
        store.create("n", b"1")
    redis_client.lpush("w:list", b"x")
    with pytest.raises(redis.ResponseError):
        store.get("list")
    stats = store.stats()
    assert (stats["replica_wait_failures"], stats["errors"]) == (2, 3)


def test_errors_count_corrupt_values_and_redis_errors(redis_client):
    store = RedisStore(redis_client)
    redis_client.set("store:bad", b"\xff")
    redis_client.lpush("store:list", b"x")
    with pytest.raises(CorruptSessionError):
        store.get("bad")
    with pytest.raises(redis.ResponseError):
        store.get("list")
    assert store.stats()["errors"] == 2


@pytest.mark.one_twin
def test_an_unreachable_server_counts_as_errors():
    client = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    store = RedisStore(client)
    for call in (
        lambda: store.get("k"),
        lambda: store.set("k", 1),
        lambda: store.exists("k"),
        lambda: store.delete("k"),
    ):
        with pytest.raises(redis.ConnectionError):
            call()
    assert store.stats()["errors"] == 4


def test_counts_stay_exact_under_threads(redis_client):
    store = RedisStore(redis_client)

    def work(worker: int) -> None:
        for round_ in range(250):
            store.set(f"{worker}", round_)
            store.get(f"{worker}")

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = store.stats()
    assert stats["writes"] == stats["hits"] == 2000
