"""A pooled connection the server closed while it sat idle is replaced before use, on both paths.

Redis closes idle clients after ``timeout``; ``CLIENT KILL``, a proxy's idle timeout or a
restart do the same. redis-py's pool checks a connection at checkout and reconnects, so
even with retries off (``Retry(NoBackoff(), 0)``) the next call succeeds; the fast path
must do the same rather than send on the dead socket. Both parsers are covered because
they notice a closed socket differently (hiredis peeks, the Python parser reads), and
valkey-py's clients (the same ``Connection`` machinery in a fork) with both of its parsers.
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import valkey
import valkey._parsers
import valkey.backoff
import valkey.retry
from redis._parsers import _HiredisParser, _RESP2Parser, _RESP3Parser
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.servers import RedisServer

from hug_store_redis import RedisStore

pytestmark = pytest.mark.one_twin  # the codec plays no part; the paths and parsers do

PATHS = [pytest.param(True, id="fast"), pytest.param(False, id="generic")]
PARSERS = [  # (protocol, parser): unset is RESP3 on redis-py 8
    pytest.param((None, _HiredisParser), id="hiredis"),
    pytest.param((None, _RESP3Parser), id="python-parser"),
    pytest.param((2, _HiredisParser), id="resp2-hiredis"),
    pytest.param((2, _RESP2Parser), id="resp2-python-parser"),
    # valkey-py: unset is RESP2
    pytest.param((None, valkey._parsers._LibvalkeyParser), id="valkey-py-libvalkey"),
    pytest.param((None, valkey._parsers._RESP2Parser), id="valkey-py-python-parser"),
    pytest.param((3, valkey._parsers._LibvalkeyParser), id="valkey-py-resp3-libvalkey"),
    pytest.param((3, valkey._parsers._RESP3Parser), id="valkey-py-resp3-python-parser"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    process = RedisServer(tmp_path_factory.mktemp("stale")).start()
    yield process
    process.stop()


@pytest.fixture
def admin(server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=server.port)
    client.flushall()
    yield client
    client.config_set("timeout", 0)
    client.close()


def store_without_retries(
    server: RedisServer, name: str, fast_path: bool, parser: tuple[int | None, type]
) -> RedisStore:
    protocol, parser_class = parser
    options = {} if protocol is None else {"protocol": protocol}
    if parser_class.__module__.startswith("valkey."):
        retry: Any = valkey.retry.Retry(valkey.backoff.NoBackoff(), 0)
        pool: Any = valkey.ConnectionPool(
            port=server.port, client_name=name, retry=retry, parser_class=parser_class, **options
        )
        client: Any = valkey.Valkey(connection_pool=pool)
    else:
        pool = redis.ConnectionPool(
            port=server.port,
            client_name=name,
            retry=Retry(NoBackoff(), 0),
            parser_class=parser_class,
            **options,
        )
        client = redis.Redis(connection_pool=pool)
    # _retries: valkey-py's Retry has no get_retries()
    assert client.get_retry()._retries == 0 and pool.connection_kwargs["retry"]._retries == 0
    store = RedisStore(client, namespace="stale", fast_path=fast_path)
    assert store.uses_fast_path is fast_path
    return store


def connections_named(admin: redis.Redis, name: str) -> list[dict[str, Any]]:
    return [client for client in admin.client_list() if client["name"] == name]


def wait_until(condition: Callable[[], bool], what: str, limit: float = 15.0) -> None:
    """Waits for the server to act; the limit only stops a broken test from hanging."""
    give_up = time.monotonic() + limit
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"{what} did not happen within {limit} s")
        threading.Event().wait(0.05)


def kill_connections(admin: redis.Redis, name: str) -> None:
    victims = connections_named(admin, name)
    assert len(victims) == 1
    admin.client_kill_filter(_id=victims[0]["id"])
    wait_until(lambda: not connections_named(admin, name), "CLIENT KILL")


OPERATIONS: dict[str, tuple[Callable[[RedisStore], Any], Any]] = {
    "get": (lambda store: store.get("k"), {"n": 1}),
    "set": (lambda store: (store.set("k", {"n": 2}), store.get("k"))[1], {"n": 2}),
    "exists": (lambda store: store.exists("k"), True),
    "delete": (lambda store: (store.delete("k"), store.exists("k")), (True, False)),
    "read-and-touch": (lambda store: store.read_payload("k", touch=True), b'{"n": 1}'),
    "replace": (
        lambda store: (store.replace_payload("new", b"[2]", "k"), store.exists("k"), store.get("new")),
        (None, False, [2]),
    ),
}


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("fast_path", PATHS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_killed_connection_is_replaced(server, admin, fast_path, parser, operation):
    name = f"killed-{uuid.uuid4().hex}"
    store = store_without_retries(server, name, fast_path, parser)
    store.set("k", {"n": 1})
    kill_connections(admin, name)
    run, expected = OPERATIONS[operation]
    assert run(store) == expected
    assert len(connections_named(admin, name)) == 1  # one fresh connection, not one per attempt


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("fast_path", PATHS)
def test_a_connection_closed_by_the_server_idle_timeout_is_replaced(server, admin, fast_path, parser):
    name = f"idle-{uuid.uuid4().hex}"
    store = store_without_retries(server, name, fast_path, parser)
    store.set("k", {"n": 1})
    admin.config_set("timeout", 1)
    wait_until(lambda: not connections_named(admin, name), "the server's idle timeout")
    assert store.get("k") == {"n": 1}
    store.set("k", {"n": 2})
    assert store.get("k") == {"n": 2}
    assert store.stats()["errors"] == 0
