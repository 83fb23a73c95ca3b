"""store.stats(): exact counts on both paths and both twins, under threads too."""

import sys
import threading

import pytest
import redis
from hug.exceptions import StoreKeyNotFound
from redis.backoff import NoBackoff
from redis.retry import Retry

from hug_store_redis import CorruptSessionError, RedisStore
from hug_store_redis.errors import NotReplicatedError
from hug_store_redis.store import WRITTEN, Histogram
from hug_store_redis.store.stats import WRITE_ATTEMPT_BOUNDS, WRITE_SIZE_BOUNDS, StoreStats

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


def test_sliding_reads_and_compare_and_set_writes_stay_exact_under_threads(redis_client):
    """The middleware's way (``sliding_reader``, ``compare_and_set``, ``note_write_attempts``)
    from 8 threads at once: hits put their sizes on the list inline and every 64 sizes fold
    under the lock, so a size appended during another thread's fold must land in the next one."""
    store = RedisStore(redis_client)
    workers, rounds = 8, 250
    sizes = (2, 256, 257, 1500, 5000, 70_000)  # across the write_bytes buckets, two at a bound

    def payload(worker: int, round_: int) -> bytes:
        size = sizes[(worker + round_) % len(sizes)]
        return b'"' + b"x" * (size - 2) + b'"'

    def attempts(worker: int, round_: int) -> int:
        return (worker * rounds + round_) % 12 + 1  # 1 to 12: every write_attempts bucket

    for worker in range(workers):
        assert store.create(f"{worker}", payload(worker, -1))
    created = store.stats()
    start = threading.Barrier(workers)
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        read = store.sliding_reader(60)
        start.wait()
        try:
            for round_ in range(rounds):
                value, _, touched = read(f"{worker}")
                assert value == payload(worker, round_ - 1) and not touched
                assert read(f"missing-{worker}")[0] is None
                assert store.compare_and_set(f"{worker}", value, payload(worker, round_)) is WRITTEN
                store.note_write_attempts(attempts(worker, round_))
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(workers)]
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two steps: appends land inside folds
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switching)
    assert failures == []
    stats = store.stats()
    read_sizes = [len(payload(w, r - 1)) for w in range(workers) for r in range(rounds)]
    written = [len(payload(w, r)) for w in range(workers) for r in range(rounds)]
    assert stats["hits"] - created["hits"] == workers * rounds
    assert stats["misses"] - created["misses"] == workers * rounds
    assert stats["bytes_in"] - created["bytes_in"] == sum(read_sizes)
    assert stats["writes"] - created["writes"] == workers * rounds
    assert stats["bytes_out"] - created["bytes_out"] == sum(written)
    assert (stats["touches"], stats["conflicts"], stats["errors"]) == (0, 0, 0)
    histograms = store.histograms()
    every_write = [len(payload(w, -1)) for w in range(workers)] + written
    assert histograms["write_bytes"] == Histogram(
        WRITE_SIZE_BOUNDS, bucketed(every_write, WRITE_SIZE_BOUNDS), sum(every_write)
    )
    tried = [attempts(w, r) for w in range(workers) for r in range(rounds)]
    assert histograms["write_attempts"] == Histogram(
        WRITE_ATTEMPT_BOUNDS, bucketed(tried, WRITE_ATTEMPT_BOUNDS), sum(tried)
    )


def bucketed(values: list[int], bounds: tuple[int, ...]) -> tuple[int, ...]:
    """How many of ``values`` are at most each bound and above the one before (the last: above all)."""
    counts = [0] * (len(bounds) + 1)
    for value in values:
        counts[next((at for at, bound in enumerate(bounds) if value <= bound), len(bounds))] += 1
    return tuple(counts)


class AppendedDuringFold(list[int]):
    """A list of sizes to which another thread appends ``late`` while a fold copies it out: under
    the GIL no thread can switch inside ``_fold``, so this stands in for a free-threaded build."""

    def __init__(self, sizes: list[int], late: int) -> None:
        super().__init__(sizes)
        self.late: int | None = late

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        taken = super().__getitem__(index)
        if isinstance(index, slice) and self.late is not None:
            self.append(self.late)
            self.late = None
        return taken


@pytest.mark.one_twin
def test_a_size_appended_during_a_fold_is_counted_by_the_next():
    stats = StoreStats()
    stats.hit_sizes = AppendedDuringFold([10, 20], late=5)
    stats._write_sizes = AppendedDuringFold([300], late=2000)
    stats._listed_attempts = AppendedDuringFold([1], late=4)
    stats.fold()  # takes 10, 20, 300 and 1; 5, 2000 and 4 arrive meanwhile
    assert list(stats.hit_sizes) == [5] and list(stats._write_sizes) == [2000]
    counts = stats.snapshot()
    assert (counts["hits"], counts["bytes_in"], counts["writes"], counts["bytes_out"]) == (3, 35, 2, 2300)
    histograms = stats.histograms()
    assert histograms["write_bytes"].counts == (0, 1, 1, 0, 0, 0, 0, 0)
    assert histograms["write_attempts"] == Histogram(WRITE_ATTEMPT_BOUNDS, (1, 0, 0, 1, 0, 0), 5)
