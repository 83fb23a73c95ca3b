"""``LocalCache.remember`` and ``decoded_hits``: a decoded session kept beside exactly the bytes
it came from, handed out as a private copy, in both twins.

What is kept is derived from the entry's bytes alone and goes with the entry, so it is served
exactly when the bytes would be: never after an invalidation, a flush or a replacement, never
while the cache is not serving. Anything but a plain hit returns None and counts nothing (the
caller then reads through ``lookup``, which counts). The middleware's use of it, through a real
server, is ``tests/sessions/test_cached_sessions.py``.
"""

import threading
import time
from time import monotonic

import pytest

from hug_store_redis.cache import LocalCache

pytestmark = pytest.mark.one_twin
SOURCE = object()
HOUR_MS = 3_600_000
KEY = b"ns:abc"
PAYLOAD = b'{"cart": [1, {"n": 2}], "user": "ann"}'
KEPT_SIZE = 1_000
OWNER = object()  # what a store keeps is tagged with its own


@pytest.fixture(params=["python", "cython"])
def codec(request, twins):
    return twins[request.param].Codec("ns")


def serving_cache() -> LocalCache:
    cache = LocalCache()
    cache.attach(SOURCE)
    cache.grant(SOURCE, monotonic() + 3600)
    return cache


def install(cache: LocalCache, key: bytes, payload: bytes, ttl_ms: int = HOUR_MS) -> bool:
    return cache.finish_read(cache.begin_read(key), payload, ttl_ms)


def kept_beside(cache, codec, payload=PAYLOAD, key=KEY):
    """Install ``payload`` and keep its decoded session, as the store does after a read."""
    assert install(cache, key, payload)
    session = codec.decode(payload, "abc")
    reference = codec.reference(session, payload)
    assert cache.remember(key, payload, (codec.keep(session, reference), reference, OWNER), KEPT_SIZE)
    return session


def test_a_hit_is_the_bytes_a_private_copy_and_the_reference(codec):
    cache = serving_cache()
    kept_beside(cache, codec)
    hit = cache.decoded_hits(codec, 0, None, OWNER).hit
    first, second = hit("abc"), hit("abc")
    assert first is not None and second is not None
    assert first[0] is second[0] == PAYLOAD
    assert first[1] == second[1] == {"cart": [1, {"n": 2}], "user": "ann"}
    assert first[1] is not second[1] and first[1]["cart"][1] is not second[1]["cart"][1]
    first[1]["cart"][1]["n"] = 3  # a handler changing its copy in place
    first[1]["user"] = "bob"
    third = hit("abc")
    assert third is not None and third[1] == {"cart": [1, {"n": 2}], "user": "ann"}
    assert codec.unchanged(third[1], third[2]) and not codec.unchanged(first[1], first[2])
    assert cache.stats()["hits"] == 3


def test_kept_only_beside_the_very_bytes_object_read(codec):
    cache = serving_cache()
    assert install(cache, KEY, PAYLOAD)
    equal_bytes = bytes(bytearray(PAYLOAD))  # equal, another object: not what the entry holds
    assert not cache.remember(KEY, equal_bytes, ({}, None, OWNER), KEPT_SIZE)
    assert not cache.remember(b"ns:other", PAYLOAD, ({}, None, OWNER), KEPT_SIZE)
    assert cache.decoded_hits(codec, 0, None, OWNER).hit("abc") is False  # the bytes alone: decode and keep
    assert cache.decoded_hits(codec, 0, None, OWNER).hit("other") is None  # nothing cached
    assert cache.stats()["hits"] == 0 and cache.stats()["misses"] == 0


@pytest.mark.parametrize("gone", ["invalidate", "flush", "revoke", "replaced", "evicted"])
def test_what_is_kept_goes_with_its_entry(codec, gone):
    cache = serving_cache()
    kept_beside(cache, codec)
    hit = cache.decoded_hits(codec, 0, None, OWNER).hit
    assert hit("abc") is not None
    if gone == "invalidate":
        cache.invalidate(KEY)
    elif gone == "flush":
        cache.flush()
    elif gone == "revoke":
        cache.revoke(SOURCE)
    elif gone == "replaced":  # another read installed newer bytes
        cache.invalidate(KEY)
        assert install(cache, KEY, b'{"user": "bob"}')
    else:
        small = LocalCache(max_entries=1)
        small.attach(SOURCE)
        small.grant(SOURCE, monotonic() + 3600)
        kept_beside(small, codec)
        hit = small.decoded_hits(codec, 0, None, OWNER).hit
        assert hit("abc") is not None
        assert install(small, b"ns:other", b"{}")
        cache = small
    if gone == "replaced":  # the new bytes are served, by the counted path, until kept again
        assert hit("abc") is False
        assert cache.get(KEY) == b'{"user": "bob"}'
    else:
        assert hit("abc") is None


def test_nothing_while_the_cache_is_not_serving(codec):
    cache = serving_cache()
    kept_beside(cache, codec)
    hit = cache.decoded_hits(codec, 0, None, OWNER).hit
    cache.attach(object())  # a second source that has not vouched yet
    assert hit("abc") is None
    assert cache.stats()["hits"] == 0


def test_a_due_touch_or_a_passed_deadline_is_left_to_the_counted_path(codec):
    cache = serving_cache()
    kept_beside(cache, codec, key=KEY)
    assert cache.decoded_hits(codec, HOUR_MS + 1, None, OWNER).hit("abc") is None  # touch due
    assert cache.decoded_hits(codec, HOUR_MS - 60_000, None, OWNER).hit("abc") is not None
    short = serving_cache()
    while not install(short, KEY, PAYLOAD, ttl_ms=200):  # the key's TTL ends the entry soon
        pass  # (not installed only if this machine took 200 ms between begin and finish)
    session = codec.decode(PAYLOAD, "abc")
    assert short.remember(KEY, PAYLOAD, (codec.copy(session), None, OWNER), KEPT_SIZE)
    time.sleep(0.25)
    assert short.decoded_hits(codec, 0, None, OWNER).hit("abc") is None
    assert cache.stats()["hits"] == 1 and short.stats()["hits"] == 0


def test_a_closed_reader_serves_nothing_and_the_check_runs_on_every_hit(codec):
    cache = serving_cache()
    kept_beside(cache, codec)
    checks = []
    hits = cache.decoded_hits(codec, 0, lambda: checks.append(1), OWNER)
    assert hits.hit("abc") is not None and checks == [1]
    hits.closed = True
    assert hits.hit("abc") is None


def test_hits_are_counted_exactly_by_threads_without_the_lock(codec):
    cache = serving_cache()
    kept_beside(cache, codec)
    hit = cache.decoded_hits(codec, 0, None, OWNER).hit
    threads, each = 8, 2_000
    start = threading.Barrier(threads)
    missed = []

    def read():
        start.wait()
        for _ in range(each):
            if hit("abc") is None:
                missed.append(1)

    workers = [threading.Thread(target=read) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not missed
    assert cache.stats()["hits"] == threads * each
    cache.get(KEY)  # the locked path's hits add to the same count
    assert cache.stats()["hits"] == threads * each + 1


@pytest.mark.parametrize(
    "entry",
    [
        "not a tuple",
        (PAYLOAD,),
        (PAYLOAD, 1e18, float("inf"), ({}, None)),  # the four fields before the kept size
        (PAYLOAD, 1e18, float("inf"), (None,), 0),
        (PAYLOAD, 1e18, float("inf"), ({}, None), 0),  # no owner
        (PAYLOAD, 1e18, float("inf"), ({}, None, object()), 0),  # another store's
        (PAYLOAD, 1e18, float("inf"), "kept", 0),
        (PAYLOAD, "late", float("inf"), ({}, None), 0),
    ],
)
def test_anything_but_an_entry_is_no_hit_in_either_twin(twins, entry):
    """The compiled twin reads entries without Python's checks: what it does not recognise is
    None (or the TypeError the pure twin raises), never a crash, and the same in both."""
    outcomes = set()
    for twin in twins.values():
        codec = twin.Codec("ns")
        cache = serving_cache()
        cache._entries[KEY] = entry
        try:
            outcomes.add(repr(cache.decoded_hits(codec, 0, None, OWNER).hit("abc")))
        except TypeError:
            outcomes.add("TypeError")
    assert len(outcomes) == 1
    assert outcomes <= {"None", "TypeError"}


def test_what_is_kept_counts_against_max_bytes_until_its_entry_goes(codec):
    """``remember``'s size is in ``bytes`` while the entry keeps it and leaves with it, however
    the entry goes; keeping it evicts the oldest entries past ``max_bytes``."""
    entry_bytes = len(KEY) + len(PAYLOAD)
    for gone in ("invalidate", "flush", "replaced", "evicted"):
        cache = serving_cache()
        kept_beside(cache, codec)
        assert cache.stats()["bytes"] == entry_bytes + KEPT_SIZE
        if gone == "invalidate":
            cache.invalidate(KEY)
        elif gone == "flush":
            cache.flush()
        elif gone == "replaced":  # a read installs newer bytes, then one that saw others drops them
            first, second = cache.begin_read(KEY), cache.begin_read(KEY)
            assert cache.finish_read(first, b'{"user": "bob"}', HOUR_MS)
            assert cache.stats()["bytes"] == len(KEY) + len(b'{"user": "bob"}')
            assert not cache.finish_read(second, PAYLOAD, HOUR_MS)
        else:
            cache.max_entries = 1
            assert install(cache, b"ns:other", b"{}")
            assert cache.stats()["bytes"] == len(b"ns:other{}")
            continue
        assert cache.stats()["bytes"] == 0, gone


def test_keeping_evicts_past_max_bytes_and_never_keeps_what_alone_exceeds_it(codec):
    entry_bytes = len(KEY) + len(PAYLOAD)
    cache = serving_cache()
    cache.max_bytes = 2 * entry_bytes + KEPT_SIZE - 1  # two entries fit, not two and one kept
    assert install(cache, b"ns:old", PAYLOAD)
    kept_beside(cache, codec)
    assert cache.stats()["evictions"] == 1 and cache.get(b"ns:old") is None
    assert cache.stats()["bytes"] == entry_bytes + KEPT_SIZE <= cache.max_bytes
    assert cache.decoded_hits(codec, 0, None, OWNER).hit("abc") is not None
    other = b"ns:xyz"
    assert install(cache, other, PAYLOAD)
    assert not cache.remember(other, PAYLOAD, ({}, None, OWNER), cache.max_bytes)  # alone, too much
    assert cache.get(other) == PAYLOAD and cache.stats()["bytes"] <= cache.max_bytes


def test_only_the_owner_of_what_is_kept_is_served_it(codec):
    cache = serving_cache()
    kept_beside(cache, codec)
    assert cache.decoded_hits(codec, 0, None, object()).hit("abc") is None  # another store's reader
    assert cache.decoded_hits(codec, 0, None, OWNER).hit("abc") is not None
    assert cache.stats()["hits"] == 1
