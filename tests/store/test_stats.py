"""store.stats(): exact counts on both paths and both twins, under threads too."""

import threading

import pytest
import redis
from hug.exceptions import StoreKeyNotFound
from redis.backoff import NoBackoff
from redis.retry import Retry

from hug_store_redis import CorruptSessionError, RedisStore


def test_counts_follow_the_operations(redis_client):
    store = RedisStore(redis_client)
    assert store.stats() == dict.fromkeys(
        [
            *("hits", "misses", "touches", "writes", "skipped_writes", "conflicts"),
            *("deletes", "errors", "bytes_in", "bytes_out"),
            *("cache_hits", "cache_misses", "invalidations", "cache_flushes"),
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
        "skipped_writes": 1,
        "conflicts": 0,
        "deletes": 1,
        "errors": 0,
        "bytes_in": 8 + 6,
        "bytes_out": 8 + 6,
        **dict.fromkeys(("cache_hits", "cache_misses", "invalidations", "cache_flushes"), 0),
    }


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
