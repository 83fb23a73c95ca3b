"""What the local cache costs on a hit, and what it adds to a miss, against what it replaces.

Group ``cache-hit`` (one small session's bytes):
- ``local-cache``: ``LocalCache.get`` on a hit (lock, lease check, lookup, LRU move, counter);
- ``dict``: a bare ``dict.get``, the floor any Python cache stands on;
- ``redis-get``: the Redis round trip a hit saves (``r.get`` on loopback).
Group ``cache-miss-bookkeeping``: ``get`` (miss) + ``begin_read`` + ``finish_read`` with no I/O,
the work the cache adds to every read that goes to Redis.
"""

import uuid
from time import monotonic

import falcon.testing
import hug
import pytest
import ujson
from support.store_cache import wait_cached
from support.twins import store_on

from hug_store_redis.cache import LocalCache
from hug_store_redis.sessions import RedisSessionMiddleware, new_session_id

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


# -- through the store and a hug request ------------------------------------------------------
# Group ``cache-store-get-hit``: ``store.get`` on a hit (``cached-store``, compiled twin)
# against what it saves, ``r.get`` + ``ujson.loads`` (``redis-get+loads``); target <= 0.1.
# Group ``cache-request-hit``: a read-only hug request whose session read is a hit
# (``cached-session``: the session middleware's read, ``read_payload_sliding``) against the
# same prebuilt WSGI app without sessions (``no-sessions``); target <= 1.3x.

STORE_DATA = {"user": "foo", "cart": [1, 2, 3], "csrf": "0123456789abcdef"}


SID = new_session_id()


def cached_store(bench_client, namespace):
    store = store_on("cython", bench_client, namespace=namespace, local_cache=True)
    store.set(SID, STORE_DATA)
    wait_cached(store, SID)
    return store


@pytest.mark.parametrize("variant", ["cached-store", "redis-get+loads"])
def test_store_get_hit(benchmark, bench_client, variant):
    benchmark.group = "cache-store-get-hit"
    benchmark.extra_info.update(operation="get", size="small", variant=variant)
    if variant == "cached-store":
        store = cached_store(bench_client, "bench-cache-get")
        misses = store.stats()["cache_misses"]
        assert benchmark(store.get, SID) == STORE_DATA
        assert store.stats()["cache_misses"] == misses  # every measured get was a hit
        store.close()
    else:
        bench_client.set(b"bench-cache-get:raw", ujson.dumps(STORE_DATA))
        assert benchmark(lambda: ujson.loads(bench_client.get(b"bench-cache-get:raw"))) == STORE_DATA


def read_only_app(middleware):
    api = hug.API(f"bench_cache_{uuid.uuid4().hex}")
    if middleware is not None:
        api.http.add_middleware(middleware)

    @hug.get("/read", api=api)
    def read(request):
        return {"counter": request.context.get("session", {}).get("counter", 0)}

    return api.http.server()


@pytest.mark.parametrize("variant", ["cached-session", "no-sessions"])
def test_request_hit(benchmark, bench_client, variant):
    benchmark.group = "cache-request-hit"
    benchmark.extra_info.update(operation="request", size="small", variant=variant)
    store = None
    headers = {}
    if variant == "cached-session":
        store = cached_store(bench_client, "bench-cache-request")
        headers = {"Cookie": f"sid={SID}"}
    app = read_only_app(None if store is None else RedisSessionMiddleware(store, cookie_secure=False))
    environ = falcon.testing.create_environ(path="/read", headers=headers)

    def request():
        return b"".join(app(dict(environ), start_response))

    assert b"counter" in request()
    misses = store.stats()["cache_misses"] if store is not None else 0
    benchmark(request)
    if store is not None:
        assert store.stats()["cache_misses"] == misses  # every measured request was a hit
        store.close()


def start_response(status, headers, exc_info=None):
    assert status == "200 OK", status
