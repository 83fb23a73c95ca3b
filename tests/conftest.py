"""Real servers, both codec twins and both store paths for every test.

pytest-redis starts ``redis-server`` on a free loopback port (never 6379). Each test
that touches the store runs once per twin and once per path (fast, generic): the
``cython`` variant imports the compiled module itself, so a missing extension fails
loudly instead of passing as Python.
"""

import importlib
from collections.abc import Iterator
from types import ModuleType

import pytest
import redis
from pytest_redis.executor import RedisExecutor

import hug_store_redis._codec
import hug_store_redis.store
from hug_store_redis import RedisStore

pytest_plugins = ["support.topology"]  # Redis Cluster and Sentinel fixtures
TWIN_MODULES = {"cython": "hug_store_redis._speedups", "python": "hug_store_redis._codec_py"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-extensions",
        action="store_true",
        help="run the suite on the pure-Python twin only (for builds without the extension)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("one_twin") or metafunc.definition.get_closest_marker(
        "packaging"
    ):
        return
    twins = ["python"] if metafunc.config.getoption("--no-extensions") else ["cython", "python"]
    metafunc.fixturenames.extend(["twin", "store_path"])
    metafunc.parametrize("twin", twins, indirect=True)
    metafunc.parametrize("store_path", ["fast", "generic"], indirect=True)


@pytest.fixture
def twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The codec module every RedisStore built in this test uses."""
    module = importlib.import_module(TWIN_MODULES[request.param])
    monkeypatch.setattr(hug_store_redis._codec, "Codec", module.Codec)
    return module


@pytest.fixture
def store_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``generic`` turns the fast path off for every RedisStore built in this test."""
    if request.param == "generic":
        monkeypatch.setattr(hug_store_redis.store, "fast_path_for", lambda client: None)
    return str(request.param)


@pytest.fixture(scope="session")
def redis_server(redis_proc: RedisExecutor) -> RedisExecutor:
    assert redis_proc.host in ("127.0.0.1", "localhost") and redis_proc.port != 6379
    return redis_proc


@pytest.fixture
def redis_client(redis_server: RedisExecutor) -> Iterator[redis.Redis]:
    client = redis.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=5)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def store(redis_client: redis.Redis) -> RedisStore:
    return RedisStore(redis_client)
