"""A local cache kept correct by a listener on a real redis-server (helpers in support.cache)."""

from collections.abc import Iterator

import pytest
import redis
from support.cache import Invalidations, close_every_listener, start_listener, wait_serving
from support.servers import RedisServer

from hug_store_redis.cache import InvalidationListener, LocalCache


@pytest.fixture(autouse=True)
def no_listener_outlives_its_test() -> Iterator[None]:
    yield
    close_every_listener()


@pytest.fixture
def invalidations() -> Invalidations:
    return Invalidations()


@pytest.fixture
def cache() -> LocalCache:
    return LocalCache()


@pytest.fixture
def listener(redis_server, redis_client, cache, invalidations) -> Iterator[InvalidationListener]:
    listener = start_listener(redis_server.port, cache, invalidations)
    wait_serving(cache)
    yield listener
    listener.close()


@pytest.fixture
def own_client(own_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=own_server.port, socket_timeout=5)
    yield client
    client.close()
