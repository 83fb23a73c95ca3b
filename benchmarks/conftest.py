"""One redis-server for every store benchmark (stores on a chosen twin: ``support.twins.store_on``)."""

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
