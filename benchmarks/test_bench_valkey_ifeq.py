"""Compare-and-set through the store on Valkey 8.1 and 9.1: native commands against the script.

The store writes with ``SET key new IFEQ old GET EX seconds`` where the server has SET IFEQ
(Valkey >= 8.1) and deletes an emptied session with ``DELIFEQ`` (Valkey >= 9.0);
``transport/native.py``. Each call here is a successful ``store.compare_and_set`` that swaps
the key between two values, through a plain ``redis.Redis`` on the fast path:

- ``script``: the store with its native forms switched off (the Lua script, EVALSHA);
- ``native``: the store as shipped.

Groups ``cas-valkey8-{small,large}`` and ``cas-valkey9-{small,large}`` (100 B, 60 KB
sessions); the ratio native / script is in BENCHMARKS.md.
"""

import os
from collections.abc import Callable, Iterator

import pytest
import redis
from support.server_kinds import valkey9_server_executable, valkey_server_executable

from hug_store_redis import RedisStore
from hug_store_redis.cli.embedded import EmbeddedRedis
from hug_store_redis.transport import native

SIZES = {"small": 100, "large": 60_000}
SERVERS = {"valkey8": valkey_server_executable, "valkey9": valkey9_server_executable}
EXPIRATION = 86400


def two_values(size: int) -> tuple[bytes, bytes]:
    return os.urandom(size // 2 + 1).hex().encode()[:size], os.urandom(size // 2 + 1).hex().encode()[:size]


@pytest.fixture(scope="module", params=sorted(SERVERS))
def valkey_client(request: pytest.FixtureRequest) -> Iterator[tuple[str, redis.Redis]]:
    with EmbeddedRedis(executable=SERVERS[request.param]()) as server:
        client = redis.Redis(host=server.host, port=server.port)
        yield request.param, client
        client.close()


@pytest.fixture(params=["script", "native"])
def variant(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "script":
        monkeypatch.setattr(native, "compare_and_set_commands", lambda *arguments: None)
    return str(request.param)


def swapping_writer(store: RedisStore, key: str, values: tuple[bytes, bytes]) -> Callable[[], None]:
    current = [values[0]]

    def write() -> None:
        new = values[1] if current[0] is values[0] else values[0]
        if not store.compare_and_set(key, current[0], new).written:
            raise AssertionError("the compare-and-set did not write")
        current[0] = new

    return write


@pytest.mark.parametrize("size", SIZES)
def test_compare_and_set_on_valkey(benchmark, valkey_client, variant, size):
    server, client = valkey_client
    store = RedisStore(client, namespace="bench", expiration=EXPIRATION)
    values = two_values(SIZES[size])
    key = f"cas-{variant}-{size}"
    client.set(f"bench:{key}", values[0], ex=EXPIRATION)
    benchmark.group = f"cas-{server}-{size}"
    benchmark.extra_info.update(server=server, size=size, variant=variant)
    benchmark(swapping_writer(store, key, values))
