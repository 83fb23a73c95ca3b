"""The codec twins on RESP framing and on edges (test_fuzz_twins.py fuzzes the JSON side)."""

import json

import hiredis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.hypothesis_profiles import FUZZ

from hug_store_redis import CorruptSessionError
from hug_store_redis.codec import _codec_py
from hug_store_redis.codec.wire import bulk

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


@FUZZ
@given(keys, keys, st.binary(max_size=50), st.binary(max_size=50))
def test_keyed_frames_agree_and_are_the_commands_they_claim(twins, namespace, key, before, after):
    python, cython = (twin.Codec(namespace) for twin in twins.values())
    full_key = f"{namespace}:{key}".encode("utf-8", "surrogatepass")
    head = b"*4\r\n" + bulk(b"EVALSHA") + bulk(before)
    tail = bulk(after)
    frame = python.frame_keyed(head, key, tail)
    assert frame == cython.frame_keyed(head, key, tail)
    assert parse_resp_command(frame) == [b"EVALSHA", before, full_key, after]
    arguments = (before, after, b"%d" % len(key))
    framed = python.frame_keyed(head, key, tail, arguments)
    assert framed == cython.frame_keyed(head, key, tail, arguments)
    assert parse_resp_command(framed.replace(b"*4\r\n", b"*7\r\n", 1)) == [
        b"EVALSHA",
        before,
        full_key,
        after,
        *arguments,
    ]
    for twin in (python, cython):
        with pytest.raises(TypeError, match="session key must be str"):
            twin.frame_keyed(head, key.encode("utf-8", "surrogatepass"), tail)
        with pytest.raises(TypeError, match="arguments must be bytes, not str"):
            twin.frame_keyed(head, key, tail, (before, "text"))
        for nothing in ((None, key), (head, key, None), (head, key, tail, None)):
            with pytest.raises(TypeError):  # the compiled twin read None's memory as bytes before
                twin.frame_keyed(*nothing)


LENGTHS = [0, 1, 9, 10, 99, 100, 999, 1000, 9_999, 10_000, 99_999, 100_000, 10**6, 10**7]


@pytest.mark.parametrize("length", LENGTHS)
def test_frames_agree_where_the_length_gains_a_digit(twins, length):
    """The compiled twin sizes each frame before writing it: every length's digit count counts."""
    python, cython = (twin.Codec("ns", 86400) for twin in twins.values())
    payload = b"\xff" * length
    key_length = max(length - len("ns:"), 0)  # so that the namespaced key is length bytes
    key = "é" * (key_length // 2) + "k" * (key_length % 2)  # é is two bytes in UTF-8
    full_key = b"ns:" + key.encode()
    frame = python.frame_set(key, payload)
    assert frame == cython.frame_set(key, payload)
    assert parse_resp_command(frame) == [b"SET", full_key, payload, b"EX", b"86400"]
    for method in ("frame_get", "frame_getex", "frame_exists", "frame_delete"):
        assert getattr(python, method)(key) == getattr(cython, method)(key)


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
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty value"),
        (b" \r\n", "empty value"),
        (b"nulx", "not valid JSON at byte 0"),
        (b'{"a": 1', "not valid JSON at byte 7"),
        (b"[1,]", "not valid JSON at byte 3"),
        (b'{"a":1} trailing', "not valid JSON at byte 8"),
        ('{"é": x}'.encode(), "not valid JSON at byte 7"),  # é is two bytes
        ('{"é": x}', "not valid JSON at byte 7"),  # decode_responses=True: str replies
        (b"[" * 2000 + b"]" * 2000, "nested too deeply to read"),
        (b"9" * 5000, "a number too long to read"),
    ],
)
def test_corrupt_json_is_reported_in_the_packages_words(twins, name, payload, reason):
    """Not ujson's parser states ("Unexpected character found when decoding 'null'")."""
    with pytest.raises(CorruptSessionError) as caught:
        twins[name].decode_json(payload, "k")
    assert caught.value.reason == reason
    assert str(caught.value) == f"session k holds data that is not UTF-8 JSON: {reason}"


@pytest.mark.parametrize("name", ["python", "cython"])
def test_every_code_point_is_written_as_json_dumps_writes_it(twins, name):
    """All 1,114,112 code points, surrogates included, in a value and in a key."""
    text = "".join(map(chr, range(0x110000)))
    for data in (text, {text: [text, "a,b:c"]}):
        assert twins[name].encode_json(data) == json.dumps(data).encode()


@pytest.mark.parametrize("name", ["python", "cython"])
@pytest.mark.parametrize(
    ("attribute", "value"), [("namespace", "other"), ("expiration", 5), ("expiration", None)]
)
def test_namespace_and_expiration_are_read_only(twins, name, attribute, value):
    """They are baked into the frames: changing one would send a SET whose header lies."""
    codec = twins[name].Codec("ns", 60)
    frames = codec.frame_set("k", b"v"), codec.frame_getex("k")
    with pytest.raises(AttributeError):
        setattr(codec, attribute, value)
    with pytest.raises(AttributeError):
        delattr(codec, attribute)
    assert (codec.namespace, codec.expiration) == ("ns", 60)
    assert (codec.frame_set("k", b"v"), codec.frame_getex("k")) == frames


class Namespace(str):
    """A str subclass that would change the prefix if its own methods were used."""

    def __add__(self, other):
        return "hijacked:"

    def encode(self, *arguments):
        return b"hijacked"


def construction(twin, arguments):
    """What constructing a Codec gives: its attributes and frames, or the exception type."""
    try:
        codec = twin.Codec(*arguments)
    except Exception as error:
        return type(error)
    return type(codec.namespace), codec.namespace, codec.expiration, codec.frame_set(Namespace("k"), b"v")


@pytest.mark.parametrize(
    "namespace", ["ns", Namespace("ns"), b"ns", None, 1], ids=["str", "str-subclass", "bytes", "None", "int"]
)
@pytest.mark.parametrize("expiration", [None, 60, 0, -1, True, 1.0, "60", 2**70], ids=repr)
def test_construction_agrees_on_every_mix_of_arguments(twins, namespace, expiration):
    """Namespace is checked before expiration in both, and str subclasses act as plain str."""
    outcome = construction(twins["python"], (namespace, expiration))
    assert outcome == construction(twins["cython"], (namespace, expiration))
    if isinstance(namespace, str) and isinstance(outcome, tuple):
        assert outcome[0] is str and parse_resp_command(outcome[3])[:3] == [b"SET", b"ns:k", b"v"]
