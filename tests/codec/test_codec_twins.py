"""The codec twins on RESP framing and on edges (test_fuzz_twins.py fuzzes the JSON side)."""

import json

import hiredis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.hypothesis_profiles import FUZZ

from hug_store_redis import CorruptSessionError, _codec_py

pytestmark = pytest.mark.one_twin

keys = st.text(
    alphabet=st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=30
)
expirations = st.none() | st.integers(min_value=1, max_value=2**40)


def parse_resp_command(frame: bytes) -> list[bytes]:
    """The arguments of one RESP command, as a Redis server would read them."""
    reader = hiredis.Reader()
    reader.feed(frame)
    command = reader.gets()
    assert reader.gets() is False, "trailing bytes after the command"
    return command


@FUZZ
@given(keys, keys, st.binary(max_size=200), expirations)
def test_frames_agree_and_are_the_commands_they_claim(twins, namespace, key, payload, expiration):
    python, cython = (twin.Codec(namespace, expiration) for twin in twins.values())
    full_key = f"{namespace}:{key}".encode("utf-8", "surrogatepass")
    ex = [] if expiration is None else [b"EX", str(expiration).encode()]
    expected = {
        "frame_get": [b"GET", full_key],
        "frame_getex": [b"GETEX", full_key, *ex] if ex else [b"GET", full_key],
        "frame_exists": [b"EXISTS", full_key],
        "frame_delete": [b"DEL", full_key],
    }
    for method, arguments in expected.items():
        frame = getattr(python, method)(key)
        assert frame == getattr(cython, method)(key)
        assert parse_resp_command(frame) == arguments
    frame = python.frame_set(key, payload)
    assert frame == cython.frame_set(key, payload)
    assert parse_resp_command(frame) == [b"SET", full_key, payload, *ex]


@pytest.mark.parametrize("name", ["python", "cython"])
@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (("ns", 0), ValueError),
        (("ns", -1), ValueError),
        (("ns", True), ValueError),
        (("ns", 1.0), ValueError),
        ((b"ns",), TypeError),
        ((None,), TypeError),
    ],
)
def test_codec_construction_is_refused_alike(twins, name, arguments, error):
    with pytest.raises(error):
        twins[name].Codec(*arguments)


@pytest.mark.parametrize("name", ["python", "cython"])
@pytest.mark.parametrize(
    "method", ["frame_get", "frame_getex", "frame_exists", "frame_delete", "namespaced_key"]
)
@pytest.mark.parametrize("key", [None, 1, b"k"])
def test_frames_refuse_non_str_keys_alike(twins, name, method, key):
    with pytest.raises(TypeError, match="session key must be str"):
        getattr(twins[name].Codec("ns", 60), method)(key)


@pytest.mark.parametrize("name", ["python", "cython"])
@pytest.mark.parametrize("payload", ["text", None, bytearray(b"x")])
def test_frame_set_takes_bytes_only(twins, name, payload):
    with pytest.raises(TypeError, match="payload must be bytes"):
        twins[name].Codec("ns", 60).frame_set("k", payload)


@pytest.mark.parametrize("name", ["python", "cython"])
def test_depth_limit_is_shared(twins, name):
    twin = twins[name]
    assert twin.MAX_DEPTH == _codec_py.MAX_DEPTH
    nested: list = []
    for _ in range(twin.MAX_DEPTH - 1):
        nested = [nested]
    assert json.loads(twin.encode_json(nested)) == nested
    with pytest.raises(ValueError, match="nested deeper"):
        twin.encode_json([nested])


@pytest.mark.parametrize("name", ["python", "cython"])
@pytest.mark.parametrize("payload", [1, 1.5, ["list"], memoryview(b"{}")])
def test_non_string_replies_are_corrupt(twins, name, payload):
    with pytest.raises(CorruptSessionError, match="Redis replied with"):
        twins[name].decode_json(payload, "k")


@pytest.mark.parametrize("name", ["python", "cython"])
def test_every_code_point_is_written_as_json_dumps_writes_it(twins, name):
    """All 1,114,112 code points, surrogates included, in a value and in a key."""
    text = "".join(map(chr, range(0x110000)))
    for data in (text, {text: [text, "a,b:c"]}):
        assert twins[name].encode_json(data) == json.dumps(data).encode()
