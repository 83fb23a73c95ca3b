"""Compare-and-set with the server's own conditional commands (``transport.native``), on real
Valkey 8.1 (SET IFEQ) and 9.1 (SET IFEQ and DELIFEQ) whatever ``--server`` says, on both store
paths: the same outcomes as the script, one command each, no script, and a node that turns
out to be another server (a failover or restart onto an older or newer one) re-detected."""

import pytest
import redis
from support.commands import Commands, command_calls
from support.server_kinds import valkey9_server_executable, valkey_server_executable
from support.servers import RedisServer

from hug_store_redis import RedisStore
from hug_store_redis.transport import COMPARE_AND_SET, READ_AND_TOUCH

pytestmark = pytest.mark.one_twin

EXPIRATION = 100
SERVERS = {"valkey-8.1": valkey_server_executable, "valkey-9.1": valkey9_server_executable}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def valkey(request, tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp(request.param), executable=SERVERS[request.param]()).start()
    yield request.param, server
    server.stop()


@pytest.fixture
def client(valkey):
    _, server = valkey
    client = redis.Redis(port=server.port, socket_timeout=5)
    yield client
    client.flushall()
    client.close()


def test_written_conflict_and_gone_are_one_set_ifeq_each(valkey, client, store_path):
    store = RedisStore(client, expiration=EXPIRATION)
    store.set("k", [1])
    client.expire("store:k", 10)
    calls = Commands(client)
    assert store.compare_and_set("k", b"[1]", b"[2]").written
    assert calls.delta() == {"set": 1}  # one command, the value it found in its reply
    assert client.get("store:k") == b"[2]" and client.ttl("store:k") > 90
    calls = Commands(client)
    conflict = store.compare_and_set("k", b"[1]", b"[3]")
    gone = store.compare_and_set("gone", b"[1]", b"[3]")
    assert calls.delta() == {"set": 2}
    assert conflict.conflict and conflict.current == b"[2]" and client.get("store:k") == b"[2]"
    assert gone.gone and not client.exists("store:gone")
    assert client.info("memory").get("number_of_cached_scripts", 0) == 0


def test_an_emptied_session_is_deleted_only_if_unchanged(valkey, client, store_path):
    """DELIFEQ and a GET pipelined behind it on 9.1 (the conflict's value in the same round
    trip); the script on 8.1, which has no conditional delete."""
    kind, _ = valkey
    store = RedisStore(client, expiration=EXPIRATION)
    store.set("k", [1])
    calls = Commands(client)
    conflict = store.compare_and_set("k", b"[0]", b"")
    deleted = store.compare_and_set("k", b"[1]", b"")
    gone = store.compare_and_set("k", b"[1]", b"")
    sent = calls.delta()
    assert conflict.conflict and conflict.current == b"[1]"
    assert deleted.written and gone.gone and not client.exists("store:k")
    if kind == "valkey-9.1":
        assert sent == {"delifeq": 3, "get": 3}
    else:
        assert sent.get("evalsha") == 3


def test_a_namespace_without_expiry_writes_without_one(client, store_path):
    store = RedisStore(client, expiration=None)
    store.set("k", [1])
    assert store.compare_and_set("k", b"[1]", b"[2]").written and client.ttl("store:k") == -1


def test_a_base_that_is_not_utf8_to_a_decoding_client(client, store_path):
    """SET ... GET would hand the base back to a parser that cannot decode it after the write
    ran: such a base takes SET IFEQ and a pipelined GET instead."""
    decoding = redis.Redis(port=client.connection_pool.connection_kwargs["port"], decode_responses=True)
    store = RedisStore(decoding, expiration=EXPIRATION)
    client.set("store:k", b"\xff")
    calls = Commands(client)
    assert store.compare_and_set("k", b"\xff", b"[2]").written
    assert calls.delta() == {"set": 1, "get": 1} and client.get("store:k") == b"[2]"
    client.set("store:k", b"\xfe")
    conflict = store.compare_and_set("k", b"{}", b"[3]")  # a readable base: SET ... GET raised
    assert conflict.conflict and conflict.current == b"\xfe" and store.stats()["errors"] == 0
    decoding.close()


def test_a_node_that_turns_out_older_is_detected_again(tmp_path, store_path):
    """Valkey 9.1 restarted as Redis 7.0 on its port (a failover onto an older node): SET IFEQ
    is refused as a syntax error, the capabilities asked again, the write done by the script."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    server = RedisServer(tmp_path / "a", executable=valkey9_server_executable()).start()
    client = redis.Redis(port=server.port, socket_timeout=5)
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        store.set("k", [1])
        assert store.compare_and_set("k", b"[1]", b"[2]").written
        server.stop()
        older = RedisServer(tmp_path / "b", port=server.port, executable="redis-server").start()
        client.set("store:k", b"[2]")
        assert store.compare_and_set("k", b"[2]", b"[3]").written
        assert client.get("store:k") == b"[3]" and client.script_exists(COMPARE_AND_SET.sha) == [True]
        assert store.stats()["errors"] == 0
        older.stop()
    finally:
        client.close()
        server.stop()


def test_a_node_that_turns_out_newer_is_detected_again(tmp_path, store_path):
    """Redis 7.0 restarted as Valkey 9.1 (an upgrade, a failover onto a newer node): the
    script's NOSCRIPT after it had been loaded says the node changed; the next write is native."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    server = RedisServer(tmp_path / "a", executable="redis-server").start()
    client = redis.Redis(port=server.port, socket_timeout=5)
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        store.set("k", [1])
        assert store.compare_and_set("k", b"[1]", b"[2]").written  # loads the script
        server.stop()
        newer = RedisServer(tmp_path / "b", port=server.port, executable=valkey9_server_executable()).start()
        client.set("store:k", b"[2]")
        assert store.compare_and_set("k", b"[2]", b"[3]").written  # NOSCRIPT: EVAL, and forgotten
        calls = Commands(client, only={"set", "evalsha", "eval"})
        assert store.compare_and_set("k", b"[3]", b"[4]").written
        assert calls.delta() == {"set": 1} and client.get("store:k") == b"[4]"
        newer.stop()
    finally:
        client.close()
        server.stop()


def test_a_script_flush_asks_again_once_whatever_the_scripts_lost(tmp_path, store_path):
    """Redis 7.0 (scripts for reads and writes): a flush takes every script of the node, so the
    first NOSCRIPT after it asks again and the second script's reload is warm-up, not another
    change (it used to ask a second time)."""
    server = RedisServer(tmp_path, executable="redis-server").start()
    client = redis.Redis(port=server.port, socket_timeout=5)
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        assert store.create("k", b"[1]")

        def round_of(version: int) -> None:
            assert store.read_payload_sliding("k", 50).payload == b"[%d]" % version
            assert store.compare_and_set("k", b"[%d]" % version, b"[%d]" % (version + 1)).written

        round_of(1)  # each script's first NOSCRIPT: warm-up
        asked = command_calls(client).get("command|info", 0)
        assert asked == 1
        client.script_flush()
        for version in (2, 3, 4):
            round_of(version)
        assert command_calls(client).get("command|info", 0) == asked + 1
        assert client.script_exists(READ_AND_TOUCH.sha, COMPARE_AND_SET.sha) == [True, True]
        assert store.stats()["errors"] == 0
    finally:
        client.close()
        server.stop()


def test_a_server_down_when_asked_fails_the_write_as_usual_and_is_asked_again(tmp_path, store_path):
    """Unreachable at the first conditional write: the write raises the client's connection
    error (counted), nothing is remembered, and once the server is back the write is native."""
    server = RedisServer(tmp_path, executable=valkey9_server_executable()).start()
    client = redis.Redis(port=server.port, socket_timeout=5)
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        server.stop()
        with pytest.raises(redis.ConnectionError):
            store.compare_and_set("k", b"[1]", b"[2]")
        assert store.stats()["errors"] == 1
        server.start()
        client.set("store:k", b"[1]")
        calls = Commands(client, only={"set", "evalsha", "eval"})
        assert store.compare_and_set("k", b"[1]", b"[2]").written
        assert calls.delta() == {"set": 1}
    finally:
        client.close()
        server.stop()
