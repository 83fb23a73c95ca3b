"""Compare-and-set on valkey-server 8.1: the store's Lua script against Valkey's ``SET ... IFEQ``.

Why this group exists: Valkey 8.1 can do the set case natively (``SET key new IFEQ old GET
EX seconds``), with no script. Both variants run through a plain ``redis.Redis`` and
``execute_command``, each call a successful write that swaps the key between two values:

- ``script``: EVALSHA of ``COMPARE_AND_SET`` with the 40-byte SHA1 of the expected bytes
  (hashed here, as the store does);
- ``ifeq``: ``SET k new IFEQ old GET EX``, which must send the whole expected value.

Groups ``cas-valkey-small`` (100 B) and ``cas-valkey-large`` (60 KB); the ratio ifeq / script
decides whether the store should use IFEQ (docs/servers.md).
"""

import os
from collections.abc import Callable, Iterator

import pytest
import redis

from hug_store_redis.cli.embedded import EmbeddedRedis
from hug_store_redis.transport import COMPARE_AND_SET, digest

SIZES = {"small": 100, "large": 60_000}
EXPIRATION = 86400


def two_values(size: int) -> tuple[bytes, bytes]:
    return os.urandom(size // 2 + 1).hex().encode()[:size], os.urandom(size // 2 + 1).hex().encode()[:size]


@pytest.fixture(scope="module")
def raw_valkey_client(valkey_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A client of its own whose SET replies come back as sent (redis-py turns them into a bool)."""
    client = redis.Redis(host=valkey_server.host, port=valkey_server.port)
    client.set_response_callback("SET", lambda response, **options: response)
    yield client
    client.close()


def script_write(client: redis.Redis, key: str, values: tuple[bytes, bytes]) -> Callable[[], None]:
    sha = client.script_load(COMPARE_AND_SET.text)
    current = [values[0]]

    def write() -> None:
        new = values[1] if current[0] is values[0] else values[0]
        reply = client.execute_command("EVALSHA", sha, 1, key, digest(current[0]), EXPIRATION, new)
        if reply != 1:
            raise AssertionError(f"the script did not write: {reply!r:.80}")
        current[0] = new

    return write


def ifeq_write(client: redis.Redis, key: str, values: tuple[bytes, bytes]) -> Callable[[], None]:
    current = [values[0]]

    def write() -> None:
        new = values[1] if current[0] is values[0] else values[0]
        reply = client.execute_command("SET", key, new, "IFEQ", current[0], "GET", "EX", EXPIRATION)
        if reply != current[0]:
            raise AssertionError(f"IFEQ did not write: {reply!r:.80}")
        current[0] = new

    return write


WRITERS = {"script": script_write, "ifeq": ifeq_write}


@pytest.mark.parametrize("variant", WRITERS)
@pytest.mark.parametrize("size", SIZES)
def test_compare_and_set_on_valkey(benchmark, raw_valkey_client, size, variant):
    values = two_values(SIZES[size])
    key = f"bench:cas-{variant}-{size}"
    raw_valkey_client.set(key, values[0], ex=EXPIRATION)
    benchmark.group = f"cas-valkey-{size}"
    benchmark.extra_info.update(size=size, variant=variant)
    benchmark(WRITERS[variant](raw_valkey_client, key, values))
