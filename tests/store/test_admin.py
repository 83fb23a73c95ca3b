"""Namespace admin on one redis-server: count, ids, clear, touch, ttl; SCAN only, globs escaped."""

import pytest
import redis
from hug.exceptions import StoreKeyNotFound
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.commands import Commands, record_client_calls

from hug_store_redis import RedisStore
from hug_store_redis.errors import NotReplicatedError
from hug_store_redis.store.admin import escape_glob, match_pattern

ODD_KEYS = ["plain", "", "a:b", "*", "?", "[x]", "back\\slash", "ключ", "😀", "\x00\r\n", "\ud800"]


def test_count_ids_clear_give_back_the_original_keys(redis_client):
    store = RedisStore(redis_client, namespace="sessions")
    for key in ODD_KEYS:
        store.set(key, {"k": key})
    assert store.count() == len(ODD_KEYS)
    assert sorted(store.ids()) == sorted(ODD_KEYS)
    assert store.clear() == len(ODD_KEYS)
    assert store.count() == 0
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize(
    ("namespace", "decoys"),
    [
        ("sessions", ["sessions2", "sessionsX", "session"]),
        ("sessions*", ["sessions2", "sessionsX", "sessions"]),
        ("s?", ["sx", "s"]),
        ("[ab]", ["a", "b"]),
        ("back\\", ["back", "back\\\\"]),
        ("a]b", ["a", "ab"]),
        ("\\*", ["\\x", "*"]),
    ],
)
@pytest.mark.one_twin
def test_glob_characters_in_the_namespace_match_only_themselves(redis_client, namespace, decoys):
    store = RedisStore(redis_client, namespace=namespace)
    store.set("mine", 1)
    for decoy in decoys:
        RedisStore(redis_client, namespace=decoy).set("other", 2)
    assert store.count() == 1
    assert list(store.ids()) == ["mine"]
    assert store.clear() == 1
    assert redis_client.dbsize() == len(decoys)
    for decoy in decoys:
        assert RedisStore(redis_client, namespace=decoy).get("other") == 2


@pytest.mark.one_twin
def test_escape_glob_and_match_pattern():
    assert escape_glob(b"a*b?c[d]e\\f") == b"a\\*b\\?c\\[d\\]e\\\\f"
    assert match_pattern(b"ns:") == b"ns:*"
    assert match_pattern(b"ns*:") == b"ns\\*:*"


@pytest.mark.one_twin
def test_admin_uses_scan_and_unlink_never_keys(redis_client):
    store = RedisStore(redis_client, namespace="sessions")
    for n in range(20):
        store.set(f"k{n}", n)
    commands = Commands(redis_client)
    assert store.count() == 20
    assert len(list(store.ids())) == 20
    assert store.clear() == 20
    used = set(commands.delta())
    assert {"scan", "unlink"} <= used
    assert not used & {"keys", "del", "flushdb", "flushall"}


@pytest.mark.one_twin
def test_clear_deletes_in_batches_and_reports_progress(redis_client):
    store = RedisStore(redis_client, namespace="big")
    pipeline = redis_client.pipeline(transaction=False)
    for n in range(1234):
        pipeline.set(f"big:{n}", "1")
    pipeline.set("bigger:0", "1")
    pipeline.execute()
    totals: list[int] = []
    assert store.clear(on_batch=totals.append) == 1234
    assert totals[-1] == 1234 and len(totals) >= 3 and totals == sorted(totals)
    assert redis_client.keys("*") == [b"bigger:0"]


@pytest.mark.one_twin
def test_empty_namespace(redis_client):
    store = RedisStore(redis_client, namespace="empty")
    redis_client.set("other:k", 1)
    assert store.count() == 0
    assert list(store.ids()) == []
    assert store.clear() == 0
    assert redis_client.get("other:k") == b"1"


@pytest.mark.one_twin
def test_keys_that_are_not_utf8_are_counted_and_cleared_but_not_listed(redis_client):
    store = RedisStore(redis_client, namespace="ns")
    store.set("good", 1)
    redis_client.set(b"ns:\xff\xfe", b"1")
    assert store.count() == 2
    assert list(store.ids()) == ["good"]
    assert store.clear() == 2


def test_keys_that_are_not_utf8_do_not_break_a_decoding_client(redis_server, redis_client):
    """SCAN's replies are read as bytes: one foreign key must not make count/ids/clear raise."""
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    try:
        store = RedisStore(client, namespace="ns")
        store.set("good", 1)
        redis_client.set(b"ns:\xff\xfe", b"1")
        assert store.count() == 2
        assert list(store.ids()) == ["good"]
        assert store.clear() == 2
        assert redis_client.dbsize() == 0
        assert store.stats()["errors"] == 0
    finally:
        client.close()


@pytest.mark.one_twin
def test_ids_with_decode_responses(redis_server):
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    try:
        store = RedisStore(client, namespace="ns")
        for key in ("a", "ключ", "😀"):
            store.set(key, 1)
        assert sorted(store.ids()) == sorted(["a", "ключ", "😀"])
        assert store.count() == 3
        assert store.clear() == 3
    finally:
        client.flushall()
        client.close()


def test_touch_restarts_the_expiry(redis_client):
    store = RedisStore(redis_client, namespace="ns", expiration=300)
    assert store.touch("missing") is False
    assert not redis_client.exists("ns:missing")
    store.set("k", {"a": 1})
    redis_client.expire("ns:k", 7)
    assert store.touch("k") is True
    assert 7 < redis_client.ttl("ns:k") <= 300
    assert store.get("k") == {"a": 1}


def test_ttl(redis_client):
    store = RedisStore(redis_client, namespace="ns", expiration=300)
    store.set("k", 1)
    assert 0 < store.ttl("k") <= 300
    with pytest.raises(StoreKeyNotFound) as caught:
        store.ttl("missing")
    assert caught.value.args == ("missing",)


def test_without_expiration_ttl_is_none_and_touch_only_checks(redis_client):
    store = RedisStore(redis_client, namespace="ns", expiration=None)
    store.set("k", 1)
    assert store.ttl("k") is None
    assert store.touch("k") is True
    assert store.touch("missing") is False
    assert redis_client.ttl("ns:k") == -1


def test_a_failed_admin_call_counts_as_an_error_like_a_failed_get(own_server):
    client = redis.Redis(port=own_server.port, socket_timeout=2, retry=Retry(NoBackoff(), 0))
    store = RedisStore(client, namespace="ns")
    store.set("k", 1)
    own_server.stop()
    for call in (
        lambda: store.touch("k"),
        lambda: store.ttl("k"),
        lambda: store.count(),
        lambda: list(store.ids()),
        lambda: store.clear(),
    ):
        with pytest.raises(redis.ConnectionError):
            call()
    assert store.stats()["errors"] == 5
    client.close()


def test_touch_ttl_and_clear_go_through_the_transport(redis_client, store_path, monkeypatch):
    """On the fast path they are framed commands on its own connections: the client's command
    methods see only the SCAN; the generic path sends them all through the client."""
    store = RedisStore(redis_client, namespace="ns")
    store.set("k", 1)
    sent = record_client_calls(redis_client, monkeypatch)
    assert store.touch("k") is True and store.ttl("k") > 0
    assert store.clear() == 1
    assert sent == (["SCAN"] if store_path == "fast" else ["EXPIRE", "TTL", "SCAN", "pipeline"])


def test_clear_waits_for_the_replicas_and_touch_does_not(redis_client):
    """``clear`` deletes (a write: WAIT after each batch); ``touch`` only restarts an expiry."""
    store = RedisStore(redis_client, namespace="ns", wait_replicas=1, wait_timeout_ms=20)
    redis_client.set("ns:a", b"1")
    redis_client.set("ns:b", b"2")
    assert store.touch("a") is True and store.ttl("a") > 0
    with pytest.raises(NotReplicatedError, match="0 of 1 replicas"):
        store.clear()
    assert redis_client.dbsize() == 0  # the primary has the deletes; no replica confirmed them
    assert store.stats()["errors"] == 1


class BrokenClient:
    """Every command fails the test: proves a bad key never reaches Redis."""

    def __getattr__(self, name):
        def command(*args, **kwargs):
            pytest.fail(f"Redis was called: {name}{args}")

        return command


@pytest.mark.parametrize("key", [None, 1, b"bytes"])
@pytest.mark.parametrize("operation", ["touch", "ttl"])
def test_non_str_key_is_a_type_error_before_any_redis_call(key, operation):
    with pytest.raises(TypeError, match="session key must be str"):
        getattr(RedisStore(BrokenClient()), operation)(key)


def test_touch_can_expire_sooner_than_the_namespace_and_never_creates_a_key(redis_client):
    store = RedisStore(redis_client, namespace="ns", expiration=300)
    store.set("k", {"a": 1})
    assert store.touch("k", expire_ms=4500) is True
    assert 0 < redis_client.pttl("ns:k") <= 4500
    assert store.touch("missing", expire_ms=4500) is False and not redis_client.exists("ns:missing")
    never = RedisStore(redis_client, namespace="never", expiration=None)
    never.set("k", 1)
    assert never.touch("k", expire_ms=3000) is True and 0 < redis_client.pttl("never:k") <= 3000
