"""Lazy-expiry reads (``read_payload_sliding``): nothing written until a touch is due, never a key created.

"Written" is measured by the server: INFO persistence ``rdb_changes_since_last_save`` and a
real replica's replication offset. Scripts are exercised through NOSCRIPT (SCRIPT FLUSH, a
restart) and through servers that refuse them (renamed away, ACL).
"""

import logging
import signal

import pytest
import redis
from support.commands import Commands
from support.scripts_refused import refusing_server
from support.servers import Node, wait_for

from hug_store_redis import RedisStore
from hug_store_redis.transport import READ_AND_TOUCH

EXPIRATION = 100
TOUCH_AFTER = 50  # touch once fewer than 50 s of the 100 remain


def changes(client: redis.Redis) -> int:
    return int(client.info("persistence")["rdb_changes_since_last_save"])


def test_reads_inside_touch_after_write_nothing_and_a_due_read_touches_once(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.set("k", {"a": 1})
    before = changes(redis_client)
    for _ in range(20):
        payload, ttl_ms, touched = store.read_payload_sliding("k", TOUCH_AFTER)
        assert payload == b'{"a": 1}' and 90_000 < ttl_ms <= 100_000 and not touched
    assert changes(redis_client) == before
    redis_client.pexpire("store:k", 30_000)  # 70 s have passed, as far as the key knows
    before = changes(redis_client)
    assert store.read_payload_sliding("k", TOUCH_AFTER) == (b'{"a": 1}', 100_000, True)
    assert changes(redis_client) == before + 1 and redis_client.pttl("store:k") > 90_000
    assert store.read_payload_sliding("k", TOUCH_AFTER).ttl_ms <= 100_000
    assert changes(redis_client) == before + 1
    stats = store.stats()
    assert (stats["hits"], stats["touches"], stats["misses"]) == (22, 1, 0)


def test_a_read_never_creates_a_key(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    assert store.read_payload_sliding("missing", TOUCH_AFTER)[:2] == (None, -2)
    store.set("k", [1])
    redis_client.delete("store:k")  # logged out between two requests
    before = changes(redis_client)
    assert store.read_payload_sliding("k", TOUCH_AFTER)[:2] == (None, -2)
    assert store.read_payload_sliding("k", 0)[:2] == (None, -2)  # GETEX, also never creates
    assert not redis_client.exists("store:missing", "store:k") and changes(redis_client) == before
    assert store.stats()["misses"] == 3 and store.stats()["touches"] == 0


def test_touch_after_zero_slides_on_every_read(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.set("k", [1])
    before = changes(redis_client)
    for _ in range(3):
        redis_client.pexpire("store:k", 30_000)
        assert store.read_payload_sliding("k", 0)[:2] == (b"[1]", 100_000)
        assert redis_client.pttl("store:k") > 90_000
    assert changes(redis_client) == before + 6 and store.stats()["touches"] == 3


def test_a_store_without_expiry_reads_with_get(redis_client):
    store = RedisStore(redis_client, expiration=None)
    store.set("k", [1])
    calls = Commands(redis_client)
    assert store.read_payload_sliding("k", TOUCH_AFTER)[:2] == (b"[1]", -1)
    assert store.read_payload_sliding("missing", TOUCH_AFTER)[:2] == (None, -2)
    assert calls.delta() == {"get": 2}


@pytest.mark.parametrize("touch_after", [-1, EXPIRATION, EXPIRATION + 1, float("nan")])
def test_touch_after_outside_the_expiration_is_refused(redis_client, touch_after):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    with pytest.raises(ValueError, match="touch_after"):
        store.read_payload_sliding("k", touch_after)


def test_decoding_clients_get_str(redis_server):
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    store = RedisStore(client, namespace="decoding", expiration=EXPIRATION)
    store.set("k", {"name": "Zoë"})
    assert store.read_payload_sliding("k", TOUCH_AFTER).payload == '{"name": "Zo\\u00eb"}'
    client.delete("decoding:k")
    client.close()


def in_step(primary: Node, replica: Node) -> None:
    """Wait until the replica has processed all the primary sent (WAIT would add a GETACK to the stream)."""
    wait_for(
        "the replica to catch up",
        lambda: (
            primary.client.info("replication")["master_repl_offset"]
            == replica.client.info("replication")["master_repl_offset"]
        ),
    )


@pytest.mark.one_twin
def test_a_replica_receives_nothing_from_reads_inside_touch_after(tmp_path, store_path):
    primary = Node(tmp_path, "primary", "--repl-ping-replica-period", "3600")
    replica = Node(tmp_path, "replica", "--replicaof", "127.0.0.1", str(primary.port))
    try:
        wait_for(
            "the replica to sync", lambda: replica.client.info("replication")["master_link_status"] == "up"
        )
        client = redis.Redis(port=primary.port)
        store = RedisStore(client, expiration=EXPIRATION)
        store.set("k", [1])
        in_step(primary, replica)
        before = replica.client.info("replication")["master_repl_offset"]
        for _ in range(50):
            assert store.read_payload_sliding("k", TOUCH_AFTER).payload == b"[1]"
        in_step(primary, replica)
        grown = replica.client.info("replication")["master_repl_offset"] - before
        assert grown % len(b"*1\r\n$4\r\nPING\r\n") == 0  # pings down the link, if any, and nothing else
        client.pexpire("store:k", 30_000)
        assert store.read_payload_sliding("k", TOUCH_AFTER).ttl_ms == 100_000
        in_step(primary, replica)
        assert replica.client.pttl("store:k") > 90_000  # the touch itself does replicate
        client.close()
    finally:
        replica.stop()
        primary.stop()


@pytest.mark.one_twin
def test_noscript_after_script_flush_reloads_once(redis_client, store_path):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.set("k", [1])
    assert store.read_payload_sliding("k", TOUCH_AFTER).payload == b"[1]"
    redis_client.script_flush()
    calls = Commands(redis_client, only={"evalsha", "eval"})
    assert store.read_payload_sliding("k", TOUCH_AFTER).payload == b"[1]"
    assert store.read_payload_sliding("k", TOUCH_AFTER).payload == b"[1]"
    assert calls.delta() == {"evalsha": 2, "eval": 1}


@pytest.mark.one_twin
def test_noscript_after_a_restart_reloads(own_server, store_path):
    client = redis.Redis(port=own_server.port)
    store = RedisStore(client, expiration=EXPIRATION)
    store.set("k", [1])
    assert store.read_payload_sliding("k", TOUCH_AFTER).payload == b"[1]"
    own_server.send(signal.SIGKILL)
    own_server.start()  # same port, empty: no data, no scripts
    client.set("store:k", b"[2]", ex=EXPIRATION)
    assert store.read_payload_sliding("k", TOUCH_AFTER).payload == b"[2]"
    assert client.script_exists(READ_AND_TOUCH.sha) == [True]
    client.close()


@pytest.mark.one_twin
@pytest.mark.parametrize("how", ["renamed", "acl"])
def test_servers_refusing_scripts_get_the_same_reads(tmp_path, store_path, how, caplog):
    server, client = refusing_server(tmp_path, how)
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        store.set("k", [1])
        before = changes(client)
        with caplog.at_level(logging.WARNING, logger="hug_store_redis"):
            for _ in range(5):
                assert store.read_payload_sliding("k", TOUCH_AFTER).payload == b"[1]"
            assert changes(client) == before
            client.pexpire("store:k", 30_000)
            assert store.read_payload_sliding("k", TOUCH_AFTER)[:2] == (b"[1]", 100_000)
            assert client.pttl("store:k") > 90_000 and changes(client) == before + 2
            assert store.read_payload_sliding("gone", TOUCH_AFTER)[:2] == (None, -2)
            assert not client.exists("store:gone")
        warnings = [record for record in caplog.records if "refuses Lua scripts" in record.getMessage()]
        assert len(warnings) == 1 and "store:k" not in warnings[0].getMessage()
        assert store.stats()["touches"] == 1 and store.stats()["errors"] == 0
        client.close()
    finally:
        server.stop()


@pytest.mark.one_twin
def test_without_scripts_a_key_deleted_between_the_read_and_its_touch_is_not_recreated(tmp_path, store_path):
    """Forces the overlap: a logout lands between GET + PTTL and the PEXPIRE they made due."""
    server, client = refusing_server(tmp_path, "renamed")
    other = redis.Redis(port=server.port)
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        store.set("k", [1])
        client.pexpire("store:k", 30_000)
        real_pexpire = client.pexpire

        def logout_then_pexpire(name, time):
            other.delete(name)
            return real_pexpire(name, time)

        client.pexpire = logout_then_pexpire  # type: ignore[method-assign]
        payload, ttl_ms, _ = store.read_payload_sliding("k", TOUCH_AFTER)
        assert payload == b"[1]" and 0 < ttl_ms <= 30_000  # what it read; the touch found no key
        assert not other.exists("store:k") and store.stats()["touches"] == 0
        client.close()
        other.close()
    finally:
        server.stop()


@pytest.mark.parametrize("expiration", [EXPIRATION, None])
def test_the_untouched_reader_learns_the_ttl_and_never_slides_it(redis_client, expiration):
    """For the middleware under ``max_lifetime``, which decides its touches after decoding."""
    store = RedisStore(redis_client, expiration=expiration)
    read = store.untouched_reader()
    store.set("k", {"a": 1})
    redis_client.pexpire("store:k", 3_000)  # long due for a touch by any touch_after
    before = changes(redis_client)
    calls = Commands(redis_client)
    payload, ttl_ms, touched = read("k")
    assert payload == b'{"a": 1}' and 0 < ttl_ms <= 3_000 and not touched
    assert read("missing") == (None, -2, False)
    sent = calls.delta()
    assert changes(redis_client) == before and "pexpire" not in sent
    assert sent["get"] == 2  # one read each (in the script; the first may follow a NOSCRIPT)
    assert 0 < redis_client.pttl("store:k") <= 3_000
