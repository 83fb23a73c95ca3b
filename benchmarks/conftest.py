"""One redis-server for every store benchmark (stores on a chosen twin: ``support.twins.store_on``)."""

# hug first, as in an app: importing it swaps ujson.dumps for a Python proxy, and the
# store must be measured in the world it runs in.
import hug  # noqa: F401  # isort: skip

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from support.legacy_release import load_legacy_module

from hug_store_redis.cli.embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def bench_client() -> Iterator[redis.Redis]:
    with EmbeddedRedis() as server:
        client = redis.Redis(host=server.host, port=server.port)
        yield client
        client.close()


@pytest.fixture(scope="session")
def legacy_store_class() -> Any:
    return load_legacy_module().RedisStore
