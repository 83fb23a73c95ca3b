"""Hostile bytes into the decode path and the reply handling: documented errors, never a crash.

Anything in Redis may have been written by someone else. Whatever the bytes, reading
them gives data or ``CorruptSessionError``; the process survives (a crash in the
compiled twin would take the whole run down), and reading changes nothing in Redis.
Runs on both twins (conftest parametrizes ``twin``).
"""

import json

import pytest
import redis
from hug.exceptions import StoreKeyNotFound
from hypothesis import given
from hypothesis import strategies as st
from support.hypothesis_profiles import FUZZ, scaled

from hug_store_redis import CorruptSessionError, RedisStore

INVALID_UTF8 = [
    b"\xff",
    b"\xc0\xaf",  # overlong "/"
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xf8\x88\x80\x80\x80",  # five-byte form
    b"\xe2\x82",  # truncated sequence
    b"\x80",  # lone continuation byte
]
valid_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=15,
).map(lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8"))


@st.composite
def hostile_payloads(draw):
    """Random bytes, truncated JSON, JSON with bad UTF-8 spliced in, deep and odd nesting."""
    kind = draw(st.sampled_from(["random", "truncated", "spliced", "nested", "numbers"]))
    if kind == "random":
        return draw(st.binary(max_size=512))
    if kind == "truncated":
        payload = draw(valid_json)
        return payload[: draw(st.integers(0, max(0, len(payload) - 1)))]
    if kind == "spliced":
        payload = draw(valid_json)
        at = draw(st.integers(0, len(payload)))
        return payload[:at] + draw(st.sampled_from(INVALID_UTF8)) + payload[at:]
    if kind == "nested":
        depth = draw(st.integers(1, 5000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b"[{}", b"]")]))
        middle = draw(st.sampled_from([b"", b"1", b"null"]))
        return opener * depth + middle + closer * draw(st.integers(0, depth))
    sign = draw(st.sampled_from([b"", b"-", b"0.", b"1e"]))
    return sign + b"9" * draw(st.integers(1, 6000)) + draw(st.sampled_from([b"", b"e9999"]))


def data_or_corrupt(function, *args):
    try:
        function(*args)
    except CorruptSessionError as error:
        return error
    return None


@FUZZ
@given(hostile_payloads())
def test_decode_gives_data_or_corrupt_session_error(twin, payload):
    error = data_or_corrupt(twin.decode_json, payload, "key")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        assert error is not None and "invalid UTF-8" in error.reason
    if error is not None:
        assert error.key == "key" and len(str(error)) < 500
    # the same text as a str reply (decode_responses=True) takes the other branch;
    # any exception other than CorruptSessionError propagates and fails the test
    error = data_or_corrupt(twin.Codec("ns").decode, payload.decode("utf-8", "replace"), "key")
    assert error is None or error.key == "key"


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 1_000_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b"9" * 1_000_000,  # past Python's int digit limit
        b'"' + b"\\" * 999_999,
        b'"\\u' + b"d800" * 10,
        b"\x00" * 1_000_000,
        b"\xff" * 1_000_000,
    ],
    ids=["open-brackets", "deep-list", "deep-dict", "long-int", "backslashes", "bad-escape", "nul", "ff"],
)
def test_huge_and_deep_garbage_is_corrupt(twin, payload):
    with pytest.raises(CorruptSessionError):
        twin.decode_json(payload, "key")


def test_huge_valid_values_decode(twin):
    big_text = "x" * 8_000_000
    assert twin.decode_json(json.dumps(big_text).encode(), "k") == big_text
    many = list(range(500_000))
    assert twin.decode_json(json.dumps(many).encode(), "k") == many


@scaled(60)
@given(hostile_payloads())
def test_store_reads_hostile_values_without_changing_them(redis_client, twin, payload):
    """Reply handling on a real server: get and read_payload leave the stored bytes as they were."""
    store = RedisStore(redis_client, namespace="hostile")
    redis_client.set(b"hostile:k", payload)
    error = data_or_corrupt(store.get, "k")
    assert error is None or error.key == "k"
    assert store.read_payload("k") == payload
    assert redis_client.get(b"hostile:k") == payload
    assert store.exists("k")


@pytest.mark.parametrize("payload", [*INVALID_UTF8, b"[" * 2000, b"\x80\x81{}"])
def test_decode_responses_client_survives_invalid_utf8(redis_server, payload):
    """redis-py decodes replies itself here; the error is a ValueError and the connection lives on."""
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    try:
        store = RedisStore(client, namespace="hostile-str")
        client.set("hostile-str:k", payload)
        store.set("ok", {"still": "works"})
        with pytest.raises(ValueError):
            store.get("k")
        assert store.get("ok") == {"still": "works"}
        client.set("hostile-str:ok", b'{"a": 1}')
        assert store.get("ok") == {"a": 1}
        with pytest.raises(StoreKeyNotFound):
            store.get("missing")
    finally:
        client.delete("hostile-str:k", "hostile-str:ok")
        client.close()


def test_decode_responses_client_reports_invalid_utf8_as_corrupt(redis_server):
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    try:
        client.set("hostile-str:bad", b"\xff")
        with pytest.raises(CorruptSessionError):
            RedisStore(client, namespace="hostile-str").get("bad")
    finally:
        client.delete("hostile-str:bad")
        client.close()
