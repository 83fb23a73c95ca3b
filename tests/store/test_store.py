"""RedisStore against a real redis-server: hug's store scenario, keys, bytes, expiry, errors."""

import datetime
import time

import pytest
import redis
from hug.exceptions import StoreKeyNotFound
from support.commands import Commands, command_calls
from support.servers import RedisServer

from hug_store_redis import CorruptSessionError, RedisStore


def test_hug_generic_store_scenario(store):
    """hug's own tests/test_store.py scenario, verbatim in spirit."""
    key = "test-key"
    data = {"user": "foo", "authenticated": False}
    assert not store.exists(key)
    store.set(key, data)
    assert store.exists(key)
    assert store.get(key) == data
    with pytest.raises(StoreKeyNotFound):
        store.get("unknown")
    store.delete(key)
    assert not store.exists(key)


def test_defaults_match_release_1_0_0(redis_client):
    store = RedisStore(redis_client)
    assert store.namespace == "store"
    assert store.expiration == 86400
    store.set("abc", {"n": 1})
    assert redis_client.type("store:abc") == b"string"
    assert 86390 <= redis_client.ttl("store:abc") <= 86400


def test_value_is_plain_utf8_json_at_namespace_key(redis_client):
    store = RedisStore(redis_client, namespace="sessions", expiration=3600)
    store.set("k1", {"name": "Zoë", "cart": [1, 2.5, None, True], "path": "a/b"})
    assert redis_client.keys("*") == [b"sessions:k1"]
    assert redis_client.get("sessions:k1") == (
        b'{"name": "Zo\\u00eb", "cart": [1, 2.5, null, true], "path": "a/b"}'
    )


def test_exists_and_delete_return_bools(store):
    assert store.exists("k") is False
    assert store.delete("k") is False
    store.set("k", [])
    assert store.exists("k") is True
    assert store.delete("k") is True
    assert store.delete("k") is False


def test_get_missing_raises_store_key_not_found_with_the_key(store):
    with pytest.raises(StoreKeyNotFound) as caught:
        store.get("nope")
    assert caught.value.args == ("nope",)


@pytest.mark.parametrize(
    "data",
    [{}, [], "text", 0, -1, 2**80, 1.5, True, False, None, {"nested": {"deep": [[{"x": "é😀"}]]}}],
)
def test_round_trip_of_every_json_type(store, data):
    store.set("k", data)
    assert store.get("k") == data


def test_documented_changes_on_round_trip(store):
    store.set("k", {"tuple": (1, 2), 2: "int key", True: "bool key", None: "none key"})
    assert store.get("k") == {"tuple": [1, 2], "2": "int key", "true": "bool key", "null": "none key"}


@pytest.mark.parametrize(
    "key", ["", " ", "a:b:c", "*", "ключ", "😀", "\x00\r\n", "\ud800", "x" * 4096, "%00;=,"]
)
def test_any_str_is_a_valid_key(store, redis_client, key):
    store.set(key, {"k": key})
    assert store.exists(key)
    assert store.get(key) == {"k": key}
    assert redis_client.exists(b"store:" + key.encode("utf-8", "surrogatepass"))
    assert store.delete(key)
    assert not store.exists(key)


@pytest.mark.parametrize("key", [None, 1, b"bytes", ["list"], 1.5])
@pytest.mark.parametrize("operation", ["get", "set", "exists", "delete"])
def test_non_str_key_is_a_type_error_before_any_redis_call(redis_client, key, operation):
    store = RedisStore(BrokenClient())
    args = (key, {}) if operation == "set" else (key,)
    with pytest.raises(TypeError, match="session key must be str"):
        getattr(store, operation)(*args)


class BrokenClient:
    """Proves no Redis call was made: every command fails the test."""

    def __getattr__(self, name):
        def command(*args, **kwargs):
            pytest.fail(f"Redis was called: {name}{args}")

        return command


def _circular():
    loop: list = []
    loop.append(loop)
    return loop


class WithJsonMethod:
    def __json__(self):
        return '"smuggled"'


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ({1, 2}, TypeError, "set"),
        (b"bytes", TypeError, "bytes"),
        ({"when": datetime.datetime(2024, 1, 1)}, TypeError, "datetime"),
        ([float("nan")], ValueError, "NaN"),
        ({"x": float("inf")}, ValueError, "Infinity"),
        (float("-inf"), ValueError, "Infinity"),
        (_circular(), ValueError, "circular"),
        ({(1, 2): "tuple key"}, TypeError, "dict key"),
        ({1.5: "float key"}, TypeError, "dict key"),
        (WithJsonMethod(), TypeError, "WithJsonMethod"),
        (object(), TypeError, "object"),
    ],
)
def test_bad_data_raises_and_keeps_the_old_value(store, redis_client, data, error, message):
    store.set("k", {"old": True})
    before = redis_client.get("store:k")
    with pytest.raises(error, match=message):
        store.set("k", data)
    assert redis_client.get("store:k") == before
    assert store.get("k") == {"old": True}


def test_bad_data_for_a_new_key_writes_nothing(store, redis_client):
    with pytest.raises(TypeError):
        store.set("new", {"s": {1}})
    assert redis_client.exists("store:new") == 0


@pytest.mark.parametrize(
    "payload", [b"", b"not json", b"\xff\xfe", b'{"a": 1', b"[1,]", b'{"a":1} trailing', b"\xed\xa0\x80"]
)
def test_corrupt_value_raises_corrupt_session_error_naming_the_key(store, redis_client, payload):
    redis_client.set("store:bad", payload)
    with pytest.raises(CorruptSessionError, match="session bad holds") as caught:
        store.get("bad")
    assert isinstance(caught.value, ValueError)
    assert caught.value.key == "bad"
    assert redis_client.get("store:bad") == payload


def test_corrupt_error_message_stays_short_for_huge_keys(store, redis_client):
    key = "j" * 8192
    redis_client.set(b"store:" + key.encode(), b"\xff")
    with pytest.raises(CorruptSessionError) as caught:
        store.get(key)
    assert len(str(caught.value)) < 200


def test_set_stores_any_size_as_1_0_0_did(store, redis_client):
    """The middleware's max_session_bytes is not the store's: hug's API has no limit."""
    store.set("big", {"blob": "x" * (2 << 20)})
    assert store.get("big") == {"blob": "x" * (2 << 20)}


def test_decode_responses_client_works(redis_server):
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    try:
        store = RedisStore(client, namespace="dr")
        store.set("k", {"ü": [1, "two"]})
        assert store.get("k") == {"ü": [1, "two"]}
        assert store.exists("k") is True
        assert store.delete("k") is True
        with pytest.raises(StoreKeyNotFound):
            store.get("k")
    finally:
        client.flushall()
        client.close()


def test_namespaces_are_isolated(redis_client):
    first = RedisStore(redis_client, namespace="a")
    second = RedisStore(redis_client, namespace="a:b")
    first.set("b:c", 1)
    second.set("c", 2)
    # Same Redis key "a:b:c": namespaces containing ":" share keys, exactly as in 1.0.0.
    assert first.get("b:c") == 2
    third = RedisStore(redis_client, namespace="sessions*")
    fourth = RedisStore(redis_client, namespace="sessions2")
    third.set("x", "star")
    fourth.set("x", "two")
    assert third.get("x") == "star" and fourth.get("x") == "two"


class TestExpiry:
    def test_ttl_is_set_and_reset_by_every_set(self, redis_client):
        store = RedisStore(redis_client, expiration=100)
        store.set("k", 1)
        redis_client.expire("store:k", 5)
        store.set("k", 2)
        assert 95 <= redis_client.ttl("store:k") <= 100

    def test_key_is_gone_after_it_expires(self, redis_client):
        store = RedisStore(redis_client, expiration=1)
        store.set("k", {"short": "lived"})
        assert store.exists("k")
        deadline = time.monotonic() + 5
        while store.exists("k") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not store.exists("k")
        with pytest.raises(StoreKeyNotFound):
            store.get("k")

    def test_timedelta_expiration(self, redis_client):
        store = RedisStore(redis_client, expiration=datetime.timedelta(minutes=2))
        assert store.expiration == 120
        store.set("k", 1)
        assert 115 <= redis_client.ttl("store:k") <= 120

    def test_none_means_no_expiry_and_set_clears_an_old_one(self, redis_client):
        store = RedisStore(redis_client, expiration=None)
        redis_client.set("store:k", b"1", ex=50)
        store.set("k", 1)
        assert redis_client.ttl("store:k") == -1

    def test_whole_float_is_accepted(self, redis_client):
        assert RedisStore(redis_client, expiration=60.0).expiration == 60

    @pytest.mark.parametrize(
        ("expiration", "error"),
        [
            (0, ValueError),
            (-5, ValueError),
            (1.5, ValueError),
            (float("nan"), ValueError),
            (float("inf"), ValueError),
            (datetime.timedelta(0), ValueError),
            (datetime.timedelta(seconds=-1), ValueError),
            (datetime.timedelta(milliseconds=1500), ValueError),
            ("3600", TypeError),
            (True, TypeError),
            ([60], TypeError),
        ],
    )
    def test_bad_expiration_is_refused_at_construction(self, expiration, error):
        with pytest.raises(error, match="expiration"):
            RedisStore(BrokenClient(), expiration=expiration)


@pytest.mark.parametrize("namespace", [None, 1, b"ns"])
def test_non_str_namespace_is_refused(namespace):
    with pytest.raises(TypeError, match="namespace must be str"):
        RedisStore(BrokenClient(), namespace=namespace)


def test_implementation_is_exposed():
    import hug_store_redis

    assert hug_store_redis.IMPLEMENTATION in ("cython", "python")


class TestPayloadPrimitives:
    """The read-once, write-if-changed pieces the session middleware builds on."""

    def test_encode_is_what_set_writes(self, store, redis_client):
        store.set("k", {"a": [1, "b"]})
        assert redis_client.get("store:k") == store.encode({"a": [1, "b"]})
        assert store.namespaced_key("k") == b"store:k"

    def test_read_payload_touch_slides_the_expiry_in_one_command(self, redis_client):
        store = RedisStore(redis_client, expiration=100)
        store.set("k", {"x": 1})
        redis_client.expire("store:k", 5)
        commands = Commands(redis_client)
        assert store.read_payload("k", touch=True) == store.encode({"x": 1})
        assert commands.delta() == {"getex": 1}
        assert 95 <= redis_client.ttl("store:k") <= 100

    def test_read_payload_without_touch_keeps_the_expiry(self, store, redis_client):
        store.set("k", 1)
        redis_client.expire("store:k", 5)
        assert store.read_payload("k") == b"1"
        assert redis_client.ttl("store:k") <= 5
        assert store.read_payload("missing", touch=True) is None

    def test_old_servers_get_pipelined_get_and_expire(self, tmp_path):
        """A real server without GETEX (renamed away, as on Redis < 6.2): one pipelined round trip."""
        server = RedisServer(tmp_path, "--rename-command", "GETEX", "").start()
        client = redis.Redis(port=server.port)
        try:
            store = RedisStore(client, expiration=100)
            store.set("k", [1])
            client.expire("store:k", 5)
            assert store.read_payload("k", touch=True) == b"[1]"
            assert 95 <= client.ttl("store:k") <= 100
            client.expire("store:k", 5)
            assert store.read_payload("k", touch=True) == b"[1]"
            assert 95 <= client.ttl("store:k") <= 100
            calls = command_calls(client)
            assert calls["get"] == 2 and calls["expire"] >= 2
        finally:
            client.close()
            server.stop()

    def test_write_payload_restarts_the_expiry(self, store, redis_client):
        store.write_payload("k", store.encode({"v": 2}))
        assert store.get("k") == {"v": 2}
        assert redis_client.ttl("store:k") > 86000


@pytest.mark.parametrize("payload", ['{"a": 1}', None, bytearray(b"{}")])
def test_payload_writes_take_bytes_only_and_write_nothing_else(store, redis_client, payload):
    for write in (
        lambda: store.write_payload("k", payload),
        lambda: store.replace_payload("k", payload, "old"),
    ):
        with pytest.raises(TypeError, match="payload must be bytes"):
            write()
    assert redis_client.keys("*") == []
