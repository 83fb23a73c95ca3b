"""LocalCache on its own: bounds, deadlines, the placeholder rule, leases and exact counters.

No server is needed here: a test object stands in as the source that vouches for the cache
(``attach``/``grant``), the same calls the listener makes.
"""

import threading
import time
from time import monotonic

import pytest

from hug_store_redis.cache import NO_EXPIRY, LocalCache, local_cache

pytestmark = pytest.mark.one_twin
SOURCE = object()
HOUR_MS = 3_600_000


def serving_cache(**options) -> LocalCache:
    cache = LocalCache(**options)
    cache.attach(SOURCE)
    cache.grant(SOURCE, monotonic() + 3600)
    return cache


def install(cache: LocalCache, key: bytes, payload: bytes, ttl_ms: int = HOUR_MS) -> bool:
    return cache.finish_read(cache.begin_read(key), payload, ttl_ms)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_entries": 0}, ValueError),
        ({"max_entries": -1}, ValueError),
        ({"max_entries": 1.5}, TypeError),
        ({"max_entries": True}, TypeError),
        ({"max_bytes": 0}, ValueError),
        ({"max_bytes": "1"}, TypeError),
        ({"max_age": 0}, ValueError),
        ({"max_age": -1.0}, ValueError),
        ({"max_age": float("inf")}, ValueError),
        ({"max_age": float("nan")}, ValueError),
        ({"max_age": "60"}, TypeError),
    ],
)
def test_bad_bounds_are_refused_by_name(options, error):
    with pytest.raises(error, match=next(iter(options))):
        LocalCache(**options)


def test_defaults_are_bounded():
    cache = LocalCache()
    assert (cache.max_entries, cache.max_bytes, cache.max_age) == (10_000, 64 * 1024 * 1024, 60.0)


def test_an_empty_cache_is_truthy_so_or_false_keeps_it():
    """``local_cache=cache or False`` must not turn an empty cache off: a cache is an object, not
    a container whose emptiness means anything to a caller."""
    cache = LocalCache()
    assert len(cache) == 0
    assert bool(cache) is True
    assert (cache or False) is cache


def test_a_cache_nobody_vouches_for_serves_nothing():
    cache = LocalCache()
    token = cache.begin_read(b"k")
    assert not cache.finish_read(token, b"v", HOUR_MS)
    assert cache.get(b"k") is None
    assert not cache.serving


def test_hit_after_install_and_the_entry_is_the_bytes_read():
    cache = serving_cache()
    assert install(cache, b"k", b'{"a":1}')
    assert cache.get(b"k") == b'{"a":1}'
    assert cache.stats()["bytes"] == len(b"k") + len(b'{"a":1}')


def test_missing_keys_and_expired_ttls_are_not_cached():
    cache = serving_cache()
    assert not install(cache, b"gone", None)  # type: ignore[arg-type]
    assert not install(cache, b"k", b"v", ttl_ms=0)
    assert not install(cache, b"k", b"v", ttl_ms=-2)
    assert len(cache) == 0


def test_lru_evicts_the_least_recently_used_entry():
    cache = serving_cache(max_entries=3)
    for name in (b"a", b"b", b"c"):
        install(cache, name, b"v")
    assert cache.get(b"a") == b"v"  # b is now the least recently used
    install(cache, b"d", b"v")
    assert [cache.get(name) for name in (b"a", b"b", b"c", b"d")] == [b"v", None, b"v", b"v"]
    assert cache.stats()["evictions"] == 1


def test_bytes_bound_counts_keys_and_payloads():
    cache = serving_cache(max_bytes=30)
    install(cache, b"a", b"x" * 9)  # 10 bytes
    install(cache, b"b", b"x" * 9)  # 20
    install(cache, b"c", b"x" * 19)  # 40: a goes, 30 left
    assert cache.get(b"a") is None
    assert cache.stats()["bytes"] == 30
    assert not install(cache, b"huge", b"x" * 40)  # larger than the whole cache: not cached
    assert cache.get(b"b") is not None and cache.get(b"c") is not None


def test_replacing_an_entry_keeps_the_byte_count_exact():
    cache = serving_cache()
    install(cache, b"k", b"x" * 10)
    install(cache, b"k", b"x" * 3)
    assert cache.stats()["bytes"] == 4 and len(cache) == 1


def test_an_entry_never_outlives_its_key_or_max_age():
    cache = serving_cache(max_age=0.1)
    install(cache, b"short-ttl", b"v", ttl_ms=100)
    install(cache, b"no-expiry", b"v", ttl_ms=NO_EXPIRY)
    long_lived = serving_cache(max_age=60)
    install(long_lived, b"k", b"v", ttl_ms=HOUR_MS)
    time.sleep(0.15)
    assert cache.get(b"short-ttl") is None
    assert cache.get(b"no-expiry") is None  # max_age, whatever the invalidations say
    assert len(cache) == 0  # expired entries are dropped when met
    assert long_lived.get(b"k") == b"v"


def test_ttl_deadline_counts_from_begin_read():
    """The TTL Redis reports was measured after begin_read: the entry expires no later than the key."""
    cache = serving_cache()
    token = cache.begin_read(b"k")
    time.sleep(0.06)
    assert not cache.finish_read(token, b"v", 50)  # already past begin + 50 ms
    assert len(cache) == 0


def test_an_invalidation_during_the_read_voids_it():
    cache = serving_cache()
    token = cache.begin_read(b"k")
    cache.invalidate(b"k")
    assert not cache.finish_read(token, b"old", HOUR_MS)
    assert cache.get(b"k") is None
    assert install(cache, b"k", b"new")  # the next read installs again


def test_an_invalidation_of_another_key_leaves_the_read_valid():
    cache = serving_cache()
    token = cache.begin_read(b"k")
    cache.invalidate(b"other")
    assert cache.finish_read(token, b"v", HOUR_MS)


def test_every_concurrent_read_of_the_key_is_voided():
    cache = serving_cache()
    first, second = cache.begin_read(b"k"), cache.begin_read(b"k")
    cache.invalidate(b"k")
    assert not cache.finish_read(first, b"v", HOUR_MS)
    assert not cache.finish_read(second, b"v", HOUR_MS)


def test_a_flush_or_revoke_voids_reads_in_flight():
    cache = serving_cache()
    token = cache.begin_read(b"k")
    cache.flush()
    assert not cache.finish_read(token, b"v", HOUR_MS)
    install(cache, b"k", b"v")
    token = cache.begin_read(b"j")
    cache.revoke(SOURCE)
    assert not cache.serving and len(cache) == 0
    cache.grant(SOURCE, monotonic() + 3600)
    assert not cache.finish_read(token, b"v", HOUR_MS)  # begun under the revoked lease


def test_a_lapsed_lease_stops_hits_and_new_reads():
    cache = serving_cache()
    install(cache, b"k", b"v")
    cache.revoke(SOURCE)
    cache.grant(SOURCE, monotonic() + 0.5)
    assert install(cache, b"k", b"v")
    time.sleep(0.6)
    assert not cache.serving
    assert cache.get(b"k") is None
    assert not install(cache, b"j", b"v")


def test_every_source_must_vouch():
    """A Cluster manager attaches one listener per primary: all of them must be flowing."""
    cache = serving_cache()
    other = object()
    cache.attach(other)
    assert not cache.serving
    cache.grant(other, monotonic() + 3600)
    assert cache.serving
    cache.detach(other)
    assert not cache.serving  # detaching revokes: the entries it vouched for are gone
    cache.grant(SOURCE, monotonic() + 3600)
    assert cache.serving


def test_a_failed_read_leaves_nothing_pending():
    cache = serving_cache()

    def failing_fetch():
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        cache.read_through(b"k", failing_fetch)
    assert cache._pending == {}
    assert cache.read_through(b"k", lambda: (b"v", HOUR_MS)) == b"v"
    assert cache.get(b"k") == b"v"


def test_counters_are_exact_under_threads():
    cache = serving_cache()
    install(cache, b"hot", b"v")
    threads, rounds = 8, 2000
    barrier = threading.Barrier(threads)

    def work():
        barrier.wait()
        for _ in range(rounds):
            cache.get(b"hot")
            cache.get(b"cold")
            cache.invalidate(b"cold")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["invalidations"]) == (threads * rounds,) * 3


@pytest.mark.parametrize("older_finishes_first", [True, False])
def test_overlapping_reads_that_disagree_leave_nothing_cached(older_finishes_first):
    """A write ran between two reads of one key and its invalidation has not landed yet.

    The caller of the newer read got v5: no later hit may return v4, whichever read
    finishes last.
    """
    cache = serving_cache()
    older, newer = cache.begin_read(b"k"), cache.begin_read(b"k")
    if older_finishes_first:
        assert cache.finish_read(older, b"v4", HOUR_MS)  # nothing told it yet
        assert not cache.finish_read(newer, b"v5", HOUR_MS)
    else:
        cache.finish_read(newer, b"v5", HOUR_MS)
        assert not cache.finish_read(older, b"v4", HOUR_MS)
    assert cache.get(b"k") is None


def test_overlapping_reads_that_agree_are_cached():
    cache = serving_cache()
    first, second = cache.begin_read(b"k"), cache.begin_read(b"k")
    assert cache.finish_read(first, b"v", HOUR_MS)
    assert cache.finish_read(second, b"v", HOUR_MS)
    assert cache.get(b"k") == b"v"


def test_a_read_that_finds_the_key_deleted_drops_an_overlapping_copy():
    cache = serving_cache()
    before, after = cache.begin_read(b"k"), cache.begin_read(b"k")
    assert cache.finish_read(before, b"v", HOUR_MS)
    assert not cache.finish_read(after, None, 0)  # deleted in between: no resurrection
    assert cache.get(b"k") is None


class CountingLock:
    """The cache's lock, counting how often it is taken."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.taken = 0

    def __enter__(self) -> None:
        self.lock.acquire()
        self.taken += 1

    def __exit__(self, *exc_info: object) -> None:
        self.lock.release()


@pytest.mark.parametrize("gil", [True, False])
def test_a_free_threaded_build_reads_under_the_lock(monkeypatch, gil):
    """Lock-free hits rest on the GIL: without it (3.13t) every lookup takes the lock, and the
    store hands out no lock-free decoded reader (``lock_free``), as decided at construction."""
    monkeypatch.setattr(local_cache, "gil_enabled", lambda: gil)
    cache = serving_cache()
    monkeypatch.setattr(local_cache, "gil_enabled", lambda: not gil)  # read once, at construction
    assert cache.lock_free is gil
    assert install(cache, b"ns:k", b"v")
    lock = cache._lock = CountingLock()
    assert cache.lookup(b"ns:k") == (b"v", pytest.approx(HOUR_MS, rel=0.01))
    assert cache.get(b"ns:absent") is None
    assert lock.taken == (0 if gil else 2)
    assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1
