"""What the local cache costs on a hit, and what it adds to a miss, against what it replaces.

Group ``cache-hit`` (one small session's bytes):
- ``local-cache``: ``LocalCache.get`` on a hit (lock, lease check, lookup, LRU move, counter);
- ``dict``: a bare ``dict.get``, the floor any Python cache stands on;
- ``redis-get``: the Redis round trip a hit saves (``r.get`` on loopback).
Group ``cache-miss-bookkeeping``: ``get`` (miss) + ``begin_read`` + ``finish_read`` with no I/O,
the work the cache adds to every read that goes to Redis.
"""

from time import monotonic

import pytest

from hug_store_redis.local_cache import LocalCache

KEY = b"bench:3f9c0a1b7e2d4c5f0a1b3f9c0a1b7e2d4c5f0a1b7e2"
PAYLOAD = b'{"user":"foo","cart":[1,2,3],"csrf":"0123456789abcdef"}'
HOUR_MS = 3_600_000


def serving_cache() -> LocalCache:
    cache = LocalCache()
    source = object()
    cache.attach(source)
    cache.grant(source, monotonic() + 86_400)
    for index in range(1000):  # a cache with neighbours, not a single entry
        cache.finish_read(cache.begin_read(b"bench:%d" % index), PAYLOAD, HOUR_MS)
    cache.finish_read(cache.begin_read(KEY), PAYLOAD, HOUR_MS)
    return cache


@pytest.mark.parametrize("variant", ["local-cache", "dict", "redis-get"])
def test_cache_hit(benchmark, bench_client, variant):
    benchmark.group = "cache-hit"
    benchmark.extra_info.update(operation="cache-hit", size="small", variant=variant)
    if variant == "local-cache":
        cache = serving_cache()
        assert cache.get(KEY) == PAYLOAD
        benchmark(cache.get, KEY)
    elif variant == "dict":
        table = {KEY: (PAYLOAD, monotonic() + 3600)}
        benchmark(table.get, KEY)
    else:
        bench_client.set(KEY, PAYLOAD)
        benchmark(bench_client.get, KEY)


def test_cache_miss_bookkeeping(benchmark):
    cache = serving_cache()
    benchmark.group = "cache-miss-bookkeeping"
    benchmark.extra_info.update(operation="cache-miss", size="small", variant="local-cache")

    def miss_then_install():
        cache.get(b"bench:absent")
        cache.finish_read(cache.begin_read(b"bench:absent"), PAYLOAD, HOUR_MS)
        cache.invalidate(b"bench:absent")

    benchmark(miss_then_install)
