"""get, set, exists and delete per payload size: our store against what users compare it with.

Variants in every group:
- ``cython``: RedisStore on the compiled codec (fast path, the default on a plain redis.Redis);
- ``python``: RedisStore on the pure-Python codec (fast path);
- ``generic``: RedisStore with ``fast_path=False`` (the path RedisCluster and Sentinel take);
- ``redis-py``: the raw client call plus ujson, what a hand-written store would do;
- ``1.0.0``: the hug_store_redis 1.0.0 release from PyPI.

``test_store_on_valkey`` adds, to the get and set groups, the ``cython`` store on a
valkey-server 8.1: ``valkey`` through a redis-py client, ``valkey+valkey-py`` through a
valkey-py one (both on the fast path).
"""

import pytest
import ujson
from support.twins import store_on

from hug_store_redis.cli.bench import OPERATIONS, PAYLOADS, raw_operations, store_operations

VARIANTS = ("cython", "python", "generic", "redis-py", "1.0.0")
EXPIRATION = 86400


def operation_for(variant, operation, client, legacy_store_class, key, data):
    if variant == "redis-py":
        return raw_operations(client, f"bench:{key}", data, EXPIRATION)[operation]
    if variant == "1.0.0":
        store = legacy_store_class(client, namespace="bench", expiration=EXPIRATION)
    elif variant == "generic":
        store = store_on("cython", client, namespace="bench", expiration=EXPIRATION, fast_path=False)
    else:
        store = store_on(variant, client, namespace="bench", expiration=EXPIRATION)
        assert store.uses_fast_path
    return store_operations(store, key, data)[operation]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("size", PAYLOADS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_store(benchmark, bench_client, legacy_store_class, operation, size, variant):
    data = PAYLOADS[size]()
    key = f"{operation}-{size}"
    bench_client.set(f"bench:{key}", ujson.dumps(data))  # get/exists find it; delete finds it once
    benchmark.group = f"{operation}-{size}"
    benchmark.extra_info.update(operation=operation, size=size, variant=variant)
    benchmark(operation_for(variant, operation, bench_client, legacy_store_class, key, data))


# Lazy expiry and conditional writes beside plain get/set, one group per path and size:
# ``get`` (GET), ``get-touch`` (GETEX, a write on every read), ``read-sliding`` (READ_AND_TOUCH by
# EVALSHA, no touch due), ``set`` (SET EX) and ``compare-and-set`` (COMPARE_AND_SET by EVALSHA,
# written over the same bytes each time).
CONDITIONAL_VARIANTS = ("get", "get-touch", "read-sliding", "set", "compare-and-set")
PATHS = ("cython", "generic")


def conditional_operation(store, key, data, variant):
    payload = store.encode(data)
    store.write_payload(key, payload)
    return {
        "get": lambda: store.read_payload(key),
        "get-touch": lambda: store.read_payload(key, touch=True),
        "read-sliding": lambda: store.read_payload_sliding(key, 3600),
        "set": lambda: store.set(key, data),
        "compare-and-set": lambda: store.compare_and_set(key, payload, payload),
    }[variant]


@pytest.mark.parametrize("variant", CONDITIONAL_VARIANTS)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("size", ["small", "large"])
def test_conditional(benchmark, bench_client, path, size, variant):
    store = store_on(
        "cython", bench_client, namespace="bench", expiration=EXPIRATION, fast_path=path == "cython"
    )
    operation = conditional_operation(store, f"conditional-{size}", PAYLOADS[size](), variant)
    benchmark.group = f"conditional-{path}-{size}"
    benchmark.extra_info.update(operation=variant, size=size, variant=path)
    benchmark(operation)
    if variant == "compare-and-set":
        assert store.stats()["conflicts"] == 0


VALKEY_VARIANTS = {"valkey": "redis-py", "valkey+valkey-py": "valkey-py"}


@pytest.mark.parametrize("variant", VALKEY_VARIANTS)
@pytest.mark.parametrize("size", PAYLOADS)
@pytest.mark.parametrize("operation", ["get", "set"])
def test_store_on_valkey(benchmark, valkey_bench_clients, operation, size, variant):
    client = valkey_bench_clients[VALKEY_VARIANTS[variant]]
    data = PAYLOADS[size]()
    key = f"{operation}-{size}"
    client.set(f"bench:{key}", ujson.dumps(data))
    store = store_on("cython", client, namespace="bench", expiration=EXPIRATION)
    assert store.uses_fast_path
    benchmark.group = f"{operation}-{size}"
    benchmark.extra_info.update(operation=operation, size=size, variant=variant)
    benchmark(store_operations(store, key, data)[operation])
