"""The cache's bounds hold after every one of many distinct reads from a real server (make test-slow).

Four threads read 60,000 distinct sessions through one cached store while a fifth rewrites
earlier ones with other sizes (so invalidations from the server land between reads). The
first sessions are tiny, so ``max_entries`` binds; the later ones are large, so
``max_bytes`` does. After every read the cache's counters are within both limits, and at
checkpoints the counted bytes equal what the entries really hold, so a counter that drifts
cannot hide an overflow.
"""

import threading
import uuid

import pytest
from support.store_cache import wait_cached

from hug_store_redis import LocalCache, RedisStore

SESSIONS = 60_000
READERS = 4
MAX_ENTRIES = 2_000
MAX_BYTES = 256 * 1024
CHECK_EVERY = 5_000  # reads per thread between full recounts


def payload_of(index: int, version: int = 0) -> bytes:
    """Tiny in the first third (the entry limit binds), up to 2 KB later (the byte limit binds)."""
    size = 10 + index % 20 if index < SESSIONS // 3 else 200 + (index * 7 + version * 13) % 1_800
    return b'{"v":"' + b"x" * size + b'"}'


def counted_bytes_match_entries(cache: LocalCache) -> tuple[int, int]:
    """(counted, held): the cache's byte count and the sum over its entries, read under its lock."""
    with cache._lock:
        held = sum(len(key) + len(entry[0]) for key, entry in cache._entries.items())
        return cache._bytes, held


@pytest.mark.slow
@pytest.mark.one_twin
def test_bounds_hold_after_every_read_of_60_000_sessions(redis_client, store_path):
    namespace = f"bounds-{uuid.uuid4().hex[:8]}"
    cache = LocalCache(max_entries=MAX_ENTRIES, max_bytes=MAX_BYTES, max_age=600)
    store = RedisStore(redis_client, namespace, local_cache=cache)
    ids = [f"{index:043d}" for index in range(SESSIONS)]
    pipeline = redis_client.pipeline(transaction=False)
    for index, session_id in enumerate(ids):
        pipeline.set(store.namespaced_key(session_id), payload_of(index), ex=3_600)
    pipeline.execute()
    wait_cached(store, ids[0])
    reading = threading.Event()
    reading.set()
    failures: list[str] = []
    largest = {"entries": 0, "bytes": 0}

    def read(first: int) -> None:
        try:
            for count, index in enumerate(range(first, SESSIONS, READERS), 1):
                payload = store.read_payload(ids[index])
                if payload is None or len(payload) < len(payload_of(index)) - 2_000:
                    failures.append(f"session {index} read as {payload!r}")
                stats = cache.stats()
                largest["entries"] = max(largest["entries"], stats["entries"])
                largest["bytes"] = max(largest["bytes"], stats["bytes"])
                if stats["entries"] > MAX_ENTRIES or stats["bytes"] > MAX_BYTES:
                    failures.append(f"after read {index}: {stats}")
                if count % CHECK_EVERY == 0:
                    counted, held = counted_bytes_match_entries(cache)
                    if counted != held:
                        failures.append(f"after read {index}: counted {counted} bytes, entries hold {held}")
                if failures:
                    return
        except Exception as error:  # a reader's error fails the test, not just its thread
            failures.append(repr(error))

    def rewrite() -> None:
        version = 0
        while reading.is_set() and not failures:
            version += 1
            for index in range(0, SESSIONS, 997):  # other sizes: invalidations, bytes change
                redis_client.set(store.namespaced_key(ids[index]), payload_of(index, version), ex=3_600)

    threads = [threading.Thread(target=read, args=(first,)) for first in range(READERS)]
    writer = threading.Thread(target=rewrite)
    try:
        writer.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        reading.clear()
        writer.join()
        assert failures == []
        counted, held = counted_bytes_match_entries(cache)
        assert counted == held
        # The limits were reached, so the run tested them: entries in the tiny third, bytes later.
        assert largest["entries"] == MAX_ENTRIES
        assert largest["bytes"] > MAX_BYTES - 2_100
        stats = store.stats()
        assert stats["cache_misses"] >= SESSIONS  # every session was a real round trip
        assert cache.stats()["evictions"] > SESSIONS - MAX_ENTRIES - stats["invalidations"]
        assert stats["invalidations"] > 0  # the server's invalidations landed during the run
    finally:
        reading.clear()
        store._cached.close()
