"""Conditional writes: ``compare_and_set``, ``create`` and ``create_replacing`` on real servers.

A write never loses another writer's update (a conflict hands back the current value) and
never recreates a key that logout or rotation deleted. Scripts run by EVALSHA with one EVAL
on NOSCRIPT; servers that refuse scripts get WATCH/MULTI with the same outcomes.
"""

import signal

import pytest
import redis
from support.commands import Commands
from support.scripts_refused import refusing_server

from hug_store_redis import RedisStore
from hug_store_redis.store import WriteStatus
from hug_store_redis.transport import COMPARE_AND_SET

EXPIRATION = 100


def test_written_when_unchanged_and_the_expiry_restarts(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.set("k", {"a": 1})
    redis_client.expire("store:k", 10)
    outcome = store.compare_and_set("k", b'{"a": 1}', b'{"a": 2}')
    assert outcome.written and outcome.status is WriteStatus.WRITTEN and outcome.current is None
    assert redis_client.get("store:k") == b'{"a": 2}' and redis_client.ttl("store:k") > 90


def test_a_conflict_hands_back_the_current_bytes_and_writes_nothing(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.set("k", {"a": 1})
    redis_client.set("store:k", b'{"a": 1, "b": 2}', ex=EXPIRATION)  # another request wrote first
    outcome = store.compare_and_set("k", b'{"a": 1}', b'{"a": 3}')
    assert outcome.conflict and outcome.current == b'{"a": 1, "b": 2}'
    assert redis_client.get("store:k") == b'{"a": 1, "b": 2}'
    assert store.compare_and_set("k", outcome.current, b'{"a": 3, "b": 2}').written  # merged, retried


def test_a_gone_key_is_never_recreated(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.set("k", [1])
    redis_client.delete("store:k")  # logout between the read and the write
    assert store.compare_and_set("k", b"[1]", b"[2]").gone
    assert store.compare_and_set("never", b"[1]", b"").gone
    assert not redis_client.exists("store:k", "store:never")


def test_an_empty_payload_deletes_only_if_unchanged(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.set("k", [1])
    assert store.compare_and_set("k", b"[0]", b"").current == b"[1]"
    assert redis_client.exists("store:k")
    assert store.compare_and_set("k", b"[1]", b"").written
    assert not redis_client.exists("store:k")


def test_keys_without_expiry_stay_without(redis_client):
    store = RedisStore(redis_client, expiration=None)
    store.set("k", [1])
    assert store.compare_and_set("k", b"[1]", b"[2]").written
    assert redis_client.ttl("store:k") == -1
    assert store.create("new", b"[1]") and redis_client.ttl("store:new") == -1


def test_decoding_clients_pass_str_and_get_str_back(redis_server):
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    store = RedisStore(client, namespace="decoding", expiration=EXPIRATION)
    store.set("k", {"name": "Zoë"})
    read = store.read_payload("k")
    assert isinstance(read, str)
    assert store.compare_and_set("k", read, b'{"name": "Zo\\u00ebl"}').written
    conflict = store.compare_and_set("k", read, b"{}")
    assert conflict.current == '{"name": "Zo\\u00ebl"}'
    assert store.compare_and_set("k", conflict.current, b"{}").written
    client.delete("decoding:k")
    client.close()


def test_a_decoding_client_gets_a_conflict_with_a_value_that_is_not_utf8_as_its_bytes(
    redis_server, twin, store_path
):
    """Such a value is a decoding error inside redis-py; the conflict carries its bytes instead,
    as a bytes client's does, so the caller can replace it with a compare-and-set."""
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    store = RedisStore(client, namespace="decoding", expiration=EXPIRATION)
    client.set("decoding:k", b"\xff not UTF-8")
    conflict = store.compare_and_set("k", b"{}", b"[1]")
    assert conflict.status is WriteStatus.CONFLICT and conflict.current == b"\xff not UTF-8"
    assert store.stats()["errors"] == 0 and store.stats()["conflicts"] == 1
    assert store.compare_and_set("k", conflict.current, b"[2]").written
    assert client.get("decoding:k") == "[2]"
    client.delete("decoding:k")
    client.close()


@pytest.mark.one_twin
def test_a_decoding_client_without_scripts_gets_the_same_conflict(tmp_path, store_path):
    server, bytes_client = refusing_server(tmp_path, "renamed")
    client = redis.Redis(port=server.port, decode_responses=True)
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        client.set("store:k", b"\xff")
        conflict = store.compare_and_set("k", b"{}", b"[1]")
        assert conflict.status is WriteStatus.CONFLICT and conflict.current == b"\xff"
        assert store.compare_and_set("k", conflict.current, b"[2]").written
        assert bytes_client.get("store:k") == b"[2]"
    finally:
        client.close()
        bytes_client.close()
        server.stop()


def test_bad_payloads_are_refused_before_redis(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.set("k", [1])
    with pytest.raises(TypeError):
        store.compare_and_set("k", b"[1]", "[2]")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.compare_and_set("k", None, b"[2]")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.create("n", "[2]")  # type: ignore[arg-type]
    assert redis_client.get("store:k") == b"[1]" and not redis_client.exists("store:n")


def test_create_writes_once_and_never_over_another_session(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    assert store.create("k", b"[1]") is True
    assert 90 < redis_client.ttl("store:k") <= EXPIRATION
    assert store.create("k", b"[2]") is False
    assert redis_client.get("store:k") == b"[1]"


def test_create_replacing_rotates_the_id_and_deletes_the_old_key_even_on_a_collision(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.set("old", [1])
    assert store.create_replacing("new", b"[1, 2]", "old") is True
    assert redis_client.get("store:new") == b"[1, 2]" and not redis_client.exists("store:old")
    assert 90 < redis_client.ttl("store:new") <= EXPIRATION
    store.set("old2", [3])
    assert store.create_replacing("new", b"[3]", "old2") is False  # "new" is taken: nothing written
    assert redis_client.get("store:new") == b"[1, 2]" and not redis_client.exists("store:old2")


def test_stats_are_exact(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.create("a", b"[1]")  # write, 3 bytes
    store.create("a", b"[1]")  # conflict
    store.compare_and_set("a", b"[1]", b"[22]")  # write, 4 bytes
    store.compare_and_set("a", b"[1]", b"[3]")  # conflict
    store.compare_and_set("gone", b"[1]", b"[3]")  # nothing
    store.create_replacing("b", b"[5]", "a")  # write, 3 bytes; delete
    store.compare_and_set("b", b"[5]", b"")  # delete
    stats = store.stats()
    assert (stats["writes"], stats["bytes_out"], stats["conflicts"], stats["deletes"]) == (3, 10, 2, 2)
    assert (stats["hits"], stats["misses"], stats["errors"]) == (0, 0, 0)
    redis_client.lpush("store:list", b"x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.compare_and_set("list", b"[1]", b"[2]")
    assert store.stats()["errors"] == 1


@pytest.mark.one_twin
def test_noscript_after_script_flush_and_after_a_restart(own_server, store_path):
    client = redis.Redis(port=own_server.port)
    store = RedisStore(client, expiration=EXPIRATION)
    store.set("k", [1])
    assert store.compare_and_set("k", b"[1]", b"[2]").written
    client.script_flush()
    calls = Commands(client, only={"evalsha", "eval"})
    assert store.compare_and_set("k", b"[2]", b"[3]").written
    assert calls.delta() == {"evalsha": 1, "eval": 1}
    own_server.send(signal.SIGKILL)
    own_server.start()  # same port, empty: no data, no scripts
    client.set("store:k", b"[4]")
    assert store.compare_and_set("k", b"[4]", b"[5]").written
    assert client.get("store:k") == b"[5]" and client.script_exists(COMPARE_AND_SET.sha) == [True]
    client.close()


@pytest.mark.one_twin
@pytest.mark.parametrize("how", ["renamed", "acl"])
def test_servers_refusing_scripts_get_the_same_outcomes(tmp_path, store_path, how):
    server, client = refusing_server(tmp_path, how)
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        store.set("k", [1])
        client.expire("store:k", 10)
        assert store.compare_and_set("k", b"[1]", b"[2]").written
        assert client.get("store:k") == b"[2]" and client.ttl("store:k") > 90
        assert store.compare_and_set("k", b"[1]", b"[3]").current == b"[2]"
        assert store.compare_and_set("gone", b"[1]", b"[3]").gone and not client.exists("store:gone")
        assert store.compare_and_set("k", b"[2]", b"").written and not client.exists("store:k")
        assert store.stats()["errors"] == 0 and store.stats()["conflicts"] == 1
        client.close()
    finally:
        server.stop()


@pytest.mark.one_twin
def test_without_scripts_a_touch_after_watch_is_a_conflict_with_the_value_read_again(tmp_path, store_path):
    """Forces the overlap: another client touches the key between WATCH and EXEC."""
    server, client = refusing_server(tmp_path, "renamed")
    other = redis.Redis(port=server.port)
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        store.set("k", [1])
        real_pipeline = client.pipeline

        def pipeline_touched_after_get(transaction=True):
            pipeline = real_pipeline(transaction=transaction)
            real_execute_command = pipeline.execute_command

            def get_then_touch(*args, **options):
                value = real_execute_command(*args, **options)
                if args[0] == "GET":
                    other.pexpire(args[1], 50_000)  # a lazy read by another request, once due
                return value

            pipeline.execute_command = get_then_touch
            return pipeline

        client.pipeline = pipeline_touched_after_get  # type: ignore[method-assign]
        outcome = store.compare_and_set("k", b"[1]", b"[2]")
        assert outcome.conflict and outcome.current == b"[1]"
        assert client.get("store:k") == b"[1]"
        del client.pipeline
        assert store.compare_and_set("k", outcome.current, b"[2]").written
        client.close()
        other.close()
    finally:
        server.stop()


def test_a_write_can_expire_sooner_than_the_namespace(redis_client):
    """``expire_s``: the middleware's ``max_lifetime`` caps a session's expiry at what remains of it."""
    store = RedisStore(redis_client, expiration=EXPIRATION)
    assert store.create("new", b"[1]", expire_s=7)
    assert 0 < redis_client.pttl("store:new") <= 7000
    assert store.compare_and_set("new", b"[1]", b"[2]", expire_s=5).written
    assert 0 < redis_client.pttl("store:new") <= 5000
    assert store.create_replacing("rotated", b"[2]", "new", expire_s=3)
    assert 0 < redis_client.pttl("store:rotated") <= 3000 and not redis_client.exists("store:new")
    assert store.compare_and_set("rotated", b"[2]", b"[3]").written  # without it: the namespace's
    assert redis_client.ttl("store:rotated") > 90


def test_a_write_can_expire_in_a_namespace_whose_keys_never_do(redis_client):
    store = RedisStore(redis_client, expiration=None)
    assert store.create("k", b"[1]", expire_s=9)
    assert 0 < redis_client.pttl("store:k") <= 9000
    assert store.compare_and_set("k", b"[1]", b"[2]").written and redis_client.ttl("store:k") == -1


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "5"])
def test_a_bad_per_write_expiry_is_refused_before_redis(redis_client, bad):
    store = RedisStore(redis_client, expiration=EXPIRATION)
    store.set("k", [1])
    with pytest.raises(ValueError, match="expire_s must be a positive int"):
        store.compare_and_set("k", b"[1]", b"[2]", expire_s=bad)
    with pytest.raises(ValueError, match="expire_s must be a positive int"):
        store.create("other", b"[1]", expire_s=bad)
    with pytest.raises(ValueError, match="expire_ms must be a positive int"):
        store.touch("k", expire_ms=bad)
    assert redis_client.get("store:k") == b"[1]" and not redis_client.exists("store:other")


@pytest.mark.one_twin
def test_servers_refusing_scripts_cap_the_expiry_too(tmp_path, store_path):
    server, client = refusing_server(tmp_path, "renamed")
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        store.set("k", [1])
        assert store.compare_and_set("k", b"[1]", b"[2]", expire_s=4).written
        assert 0 < client.pttl("store:k") <= 4000
        client.close()
    finally:
        server.stop()
