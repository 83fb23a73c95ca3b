"""The fast path: who gets it, and that it keeps every promise of redis-py's own path."""

import functools
import os
import threading
import time
import uuid

import pytest
import redis
import valkey
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel
from support.servers import RedisServer

from hug_store_redis import RedisStore
from hug_store_redis.transport import fast_path


def test_plain_redis_gets_the_fast_path(redis_server, store_path):
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    assert RedisStore(client).uses_fast_path is (store_path == "fast")
    assert RedisStore(client, fast_path=False).uses_fast_path is False


@pytest.mark.one_twin
def test_unix_socket_and_blocking_pools_get_it_too(tmp_path):
    socket_path = tmp_path / "redis.sock"
    server = RedisServer(tmp_path, unixsocket=socket_path).start()
    try:
        client = redis.Redis(unix_socket_path=str(socket_path))
        store = RedisStore(client)
        assert store.uses_fast_path
        store.set("k", {"via": "unix"})
        assert store.get("k") == {"via": "unix"}
        blocking = redis.Redis(connection_pool=redis.BlockingConnectionPool(port=server.port))
        assert RedisStore(blocking).uses_fast_path
    finally:
        server.stop()


class Traced(redis.Redis):
    @functools.wraps(redis.Redis.execute_command)
    def execute_command(self, *args, **options):
        return super().execute_command(*args, **options)


class OverridesGet(redis.Redis):
    def get(self, name):
        return super().get(name)


class ValkeyOverridesGet(valkey.Valkey):
    def get(self, name):
        return super().get(name)


@pytest.mark.one_twin
@pytest.mark.parametrize(
    "make_client",
    [
        pytest.param(
            lambda port: redis.Redis(port=port, single_connection_client=True), id="single-connection"
        ),
        pytest.param(lambda port: redis.Redis(port=port).pipeline(), id="pipeline"),
        pytest.param(lambda port: Traced(port=port), id="instrumented"),
        pytest.param(lambda port: OverridesGet(port=port), id="subclass-overriding-get"),
        pytest.param(lambda port: Sentinel([("127.0.0.1", port)]).master_for("mymaster"), id="sentinel"),
        pytest.param(lambda port: object(), id="duck-type"),
        pytest.param(
            lambda port: valkey.Valkey(port=port, single_connection_client=True),
            id="valkey-py-single-connection",
        ),
        pytest.param(lambda port: valkey.Valkey(port=port).pipeline(), id="valkey-py-pipeline"),
        pytest.param(lambda port: ValkeyOverridesGet(port=port), id="valkey-py-subclass-overriding-get"),
        pytest.param(
            lambda port: valkey.Valkey(port=port, protocol=3, cache_enabled=True),
            id="valkey-py-client-side-caching",
        ),
    ],
)
def test_everything_else_keeps_the_generic_path(redis_server, make_client):
    assert RedisStore(make_client(redis_server.port)).uses_fast_path is False


@pytest.mark.one_twin
@pytest.mark.parametrize("protocol", [2, 3, None], ids=["resp2", "resp3", "unset"])
def test_both_resp_versions_get_the_fast_path(redis_server, protocol):
    """Each version and parser is held to the same results in test_protocols.py."""
    options = {} if protocol is None else {"protocol": protocol}
    client = redis.Redis(port=redis_server.port, **options)
    store = RedisStore(client, namespace="resp")
    assert store.uses_fast_path
    store.set("k", {"a": 1})
    assert store.get("k") == {"a": 1} and store.exists("k") and store.delete("k")


def test_the_same_store_works_after_a_server_restart(own_server):
    client = redis.Redis(port=own_server.port, socket_timeout=2, retry=Retry(NoBackoff(), 3))
    store = RedisStore(client)
    store.set("before", 1)
    own_server.stop()
    with pytest.raises(redis.ConnectionError):
        store.get("before")
    own_server.start()
    store.set("after", 2)
    assert store.get("after") == 2
    assert not store.exists("before")  # no persistence: the restart emptied the server


def chain_of(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it was raised from or during."""
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


@pytest.mark.one_twin
def test_errors_after_a_lost_connection_carry_only_the_real_error(own_server, store_path):
    """No ``IndexError: pop from empty list`` (an empty stack of kept connections) in the chain."""
    client = redis.Redis(port=own_server.port, socket_timeout=2, retry=Retry(NoBackoff(), 0))
    store = RedisStore(client)
    store.set("k", 1)
    own_server.stop()
    for _ in range(3):
        with pytest.raises(redis.ConnectionError) as caught:
            store.get("k")
        assert not isinstance(caught.value.__context__, IndexError)
        assert [type(error) for error in chain_of(caught.value) if isinstance(error, IndexError)] == []
    client.close()


def test_requirepass_auth(tmp_path):
    server = RedisServer(tmp_path, "--requirepass", "s3cret").start()
    try:
        store = RedisStore(redis.Redis(port=server.port, password="s3cret"))
        store.set("k", "authenticated")
        assert store.get("k") == "authenticated"
        # no retries: redis-py would otherwise back off for seconds before giving up
        wrong = redis.Redis(port=server.port, password="wrong", retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis.AuthenticationError):
            RedisStore(wrong).get("k")
    finally:
        server.stop()


def test_a_forked_child_uses_its_own_connections(redis_client):
    store = RedisStore(redis_client)
    store.set("parent", 1)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        outcome = b"fail"
        try:
            store.set("child", store.get("parent") + 1)
            outcome = b"ok"
        finally:
            os.write(writer, outcome)
            os._exit(0)
    os.close(writer)
    assert os.read(reader, 16) == b"ok"
    os.waitpid(pid, 0)
    assert store.get("child") == 2
    store.set("parent", 3)  # the parent's own connection still answers in order
    assert store.get("parent") == 3


def test_socket_timeout_is_honoured(tmp_path):
    server = RedisServer(tmp_path, "--enable-debug-command", "yes").start()
    client = redis.Redis(port=server.port, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
    store = RedisStore(client)
    store.set("k", 1)
    sleeper = redis.Redis(port=server.port)
    blocker = threading.Thread(target=lambda: sleeper.execute_command("DEBUG", "SLEEP", "0.6"))
    try:
        blocker.start()
        threading.Event().wait(0.1)
        with pytest.raises(redis.TimeoutError):
            store.get("k")
        blocker.join()
        assert store.get("k") == 1  # the timed-out connection was dropped, not reused out of step
    finally:
        blocker.join()
        server.stop()


@pytest.mark.parametrize(
    ("pool_class", "threads"),
    [
        (redis.BlockingConnectionPool, 8),
        (redis.ConnectionPool, 3),
        (valkey.BlockingConnectionPool, 8),
        (valkey.ConnectionPool, 3),
    ],
    ids=[
        "blocking-pool-8-threads",
        "plain-pool-3-threads",
        "valkey-py-blocking-pool-8-threads",
        "valkey-py-plain-pool-3-threads",
    ],
)
def test_max_connections_holds_under_threads(redis_server, redis_client, pool_class, threads, store_path):
    """A blocking pool makes the extra threads wait; a plain one is never asked for more (on
    both store paths)."""
    name = f"capped-{uuid.uuid4().hex}"
    blocking = pool_class in (redis.BlockingConnectionPool, valkey.BlockingConnectionPool)
    options = {"timeout": 10} if blocking else {}
    pool = pool_class(port=redis_server.port, max_connections=3, client_name=name, **options)
    client_class = valkey.Valkey if pool_class.__module__.startswith("valkey") else redis.Redis
    store = RedisStore(client_class(connection_pool=pool))
    assert store.uses_fast_path == (store_path == "fast")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for round_ in range(200):
                store.set(f"{worker}", round_)
                assert store.get(f"{worker}") == round_
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(worker,)) for worker in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert len([c for c in redis_client.client_list() if c["name"] == name]) <= 3
    assert [store.get(f"{worker}") for worker in range(threads)] == [199] * threads
    pool.disconnect()


def client_commands_still_run(client, store):
    """The client's own commands, the store's admin (SCAN) and TTL: none may find the pool drained."""
    assert client.ping()
    assert store.ttl("k") is not None
    assert store.count() >= 1
    assert client.set("own", 1) and client.get("own") == b"1"


@pytest.mark.one_twin
@pytest.mark.parametrize("make_client", [redis.Redis, valkey.Valkey], ids=["redis-py", "valkey-py"])
def test_a_pool_of_one_connection_is_not_kept_from_the_client(redis_server, make_client, store_path):
    client = make_client(port=redis_server.port, max_connections=1)
    store = RedisStore(client)
    store.set("k", 1)
    client_commands_still_run(client, store)
    assert store.get("k") == 1  # and the store goes on after the client's commands
    client_commands_still_run(client, store)
    client.close()


@pytest.mark.one_twin
@pytest.mark.parametrize("make_client", [redis.Redis, valkey.Valkey], ids=["redis-py", "valkey-py"])
def test_two_threads_on_a_pool_of_two_leave_it_to_the_client(redis_server, make_client, store_path):
    client = make_client(port=redis_server.port, max_connections=2)
    store = RedisStore(client)
    store.set("k", 1)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def read_for_a_second() -> None:
        try:
            barrier.wait(timeout=10)  # both threads hold a connection at once from here on
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline:
                assert store.get("k") == 1
        except BaseException as error:
            errors.append(error)

    readers = [threading.Thread(target=read_for_a_second) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert errors == []
    client_commands_still_run(client, store)
    client.close()


@pytest.mark.one_twin
def test_the_clients_own_commands_run_beside_busy_fast_path_threads(redis_server):
    """Store threads and the client's own commands (as the user index and admin use it) at once.

    The fast path only: on the generic path three callers on a pool of two do run out.
    """
    client = redis.Redis(port=redis_server.port, max_connections=2)
    store = RedisStore(client)
    assert store.uses_fast_path
    store.set("k", 1)
    stop = threading.Event()
    errors: list[BaseException] = []

    def read_until_stopped() -> None:
        try:
            while not stop.is_set():
                assert store.get("k") == 1
        except BaseException as error:
            errors.append(error)

    readers = [threading.Thread(target=read_until_stopped) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for _ in range(200):  # one client command at a time: the pool of two always has one
            client_commands_still_run(client, store)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert errors == []
    client.close()


@pytest.mark.one_twin
def test_beyond_max_connections_of_its_own_a_call_checks_one_out_of_the_pool(redis_server, monkeypatch):
    """One call held in its round trip fills the path's own quota of 1; the next uses the pool's."""
    client = redis.Redis(port=redis_server.port, max_connections=1)
    store = RedisStore(client)
    store.set("k", 1)
    entered, release = threading.Event(), threading.Event()
    holder = threading.current_thread()
    real_round_trip = store._transport._round_trip or fast_path._round_trip

    def held_round_trip(connection, frame):
        if threading.current_thread() is not holder:
            entered.set()
            release.wait(timeout=10)
        return real_round_trip(connection, frame)

    monkeypatch.setattr(fast_path, "_round_trip", held_round_trip)
    # every call through the held round trip, the compiled twin's exchange too
    monkeypatch.setattr(
        store._transport, "_exchange", store._transport._fast.exchanger(None, held_round_trip)
    )
    results: list[object] = []
    held = threading.Thread(target=lambda: results.append(store.get("k")))
    held.start()
    try:
        assert entered.wait(timeout=10)
        assert store.get("k") == 1  # on the pool's one connection, checked back in
        assert client.ping()
        taken = client.connection_pool.get_connection()
        try:
            with pytest.raises(redis.ConnectionError, match="Too many connections"):
                store.get("k")  # the pool's own error, as on the generic path
        finally:
            client.connection_pool.release(taken)
    finally:
        release.set()
        held.join()
    assert results == [1]
    client_commands_still_run(client, store)
    client.close()


def test_error_replies_raise_like_redis_py(redis_client):
    store = RedisStore(redis_client)
    redis_client.lpush("store:list", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.get("list")
    store.set("k", 1)  # the connection is still usable and in step
    assert store.get("k") == 1


def test_decode_responses_with_invalid_utf8_is_corrupt(redis_server, redis_client):
    from hug_store_redis import CorruptSessionError

    redis_client.set("store:bad", b"\xff\xfe")
    store = RedisStore(redis.Redis(port=redis_server.port, decode_responses=True))
    with pytest.raises(CorruptSessionError):
        store.get("bad")
    store.set("good", [1])
    assert store.get("good") == [1]


def test_tls_clients_take_the_fast_path(redis_tls, store_path):
    client = redis.Redis.from_url(redis_tls.url, ssl_ca_certs=str(redis_tls.ca_cert))
    try:
        store = RedisStore(client, namespace="tls-fast")
        assert store.uses_fast_path is (store_path == "fast")
        store.set("k", {"over": "tls"})
        assert store.get("k") == {"over": "tls"} and store.delete("k")
    finally:
        client.close()


@pytest.mark.one_twin
def test_stores_on_one_client_share_its_connections(redis_server, redis_client):
    """Hundreds of stores (namespaces) on one client hold no more connections than one store."""
    name = f"shared-{uuid.uuid4().hex}"
    client = redis.Redis(port=redis_server.port, max_connections=3, client_name=name)
    stores = [RedisStore(client, namespace=f"ns{index}") for index in range(300)]
    for index, store in enumerate(stores):
        store.set("k", index)
        assert store.get("k") == index
    assert len([c for c in redis_client.client_list() if c["name"] == name]) == 1
    client.close()


@pytest.mark.parametrize("make_client", [redis.Redis, valkey.Valkey], ids=["redis-py", "valkey-py"])
def test_store_close_closes_the_fast_paths_own_connections(
    redis_server, redis_client, make_client, store_path
):
    """They are not the pool's, so client.close() cannot reach them: store.close() does, and a
    store used again reconnects."""
    name = f"closing-{uuid.uuid4().hex}"
    client = make_client(port=redis_server.port, client_name=name)
    store = RedisStore(client)
    store.set("k", 1)
    assert store.get("k") == 1
    client.close()
    store.close()
    assert [c for c in redis_client.client_list() if c["name"] == name] == []
    assert store.get("k") == 1  # reconnects
    store.close()
    client.close()
