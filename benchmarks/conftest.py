"""One redis-server for every store benchmark, and stores built on a chosen codec twin."""

# hug first, as in an app: importing it swaps ujson.dumps for a Python proxy, and the
# store must be measured in the world it runs in.
import hug  # noqa: F401  # isort: skip

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from support.legacy_release import load_legacy_module

import hug_store_redis._codec
from hug_store_redis import RedisStore
from hug_store_redis.cli.embedded import EmbeddedRedis

TWINS = {"cython": "hug_store_redis._speedups", "python": "hug_store_redis._codec_py"}


@pytest.fixture(scope="session")
def bench_client() -> Iterator[redis.Redis]:
    with EmbeddedRedis() as server:
        client = redis.Redis(host=server.host, port=server.port)
        yield client
        client.close()


def store_on(twin: str, client: Any, **options: Any) -> RedisStore:
    """A RedisStore whose codec is the named twin, whatever the import-time choice was."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hug_store_redis._codec, "Codec", importlib.import_module(TWINS[twin]).Codec)
        return RedisStore(client, **options)


@pytest.fixture(scope="session")
def legacy_store_class() -> Any:
    return load_legacy_module().RedisStore
