"""Differential fuzzing of the codec twins on the inputs a hostile caller can build.

Ordinary JSON and on top of it non-BMP text, lone
surrogates, huge ints, NaN and infinities, non-str dict keys, str/int/float
subclasses, nesting around ``MAX_DEPTH`` and circular structures. Every input gives
the same bytes (or the same exception type) from both twins, and what is written reads
back the same through both. ``make test-deep`` runs 10,000 examples per test.
"""

import contextlib
import enum
import json
import math
import string
from collections import OrderedDict

import pytest
import ujson
from hypothesis import event, given
from hypothesis import strategies as st
from support.hypothesis_profiles import FUZZ, scaled

from hug_store_redis import CorruptSessionError
from hug_store_redis.codec import _codec_py

pytestmark = pytest.mark.one_twin


class Colour(enum.IntEnum):
    RED = 1
    HUGE = 2**70


class Text(str):
    pass


class Number(int):
    pass


class Real(float):
    pass


any_char = (
    st.characters()
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)  # lone surrogates
    | st.characters(min_codepoint=0x10000)  # non-BMP: surrogate pairs in JSON escapes
    | st.sampled_from('"\\/:,{}[] \x00\x7f\u2028')
)
texts = st.text(alphabet=any_char, max_size=20)
big_ints = (
    st.integers()
    | st.integers(min_value=-(2**1100), max_value=2**1100)
    | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**64)])
)
scalars = (
    st.none()
    | st.booleans()
    | big_ints
    | st.floats()  # NaN and both infinities included: refused on write by both twins
    | texts
    | texts.map(Text)
    | big_ints.map(Number)
    | st.floats().map(Real)
    | st.sampled_from(list(Colour))
)
dict_keys = texts | big_ints | st.booleans() | st.none() | st.floats() | st.tuples(st.integers())
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(dict_keys, children, max_size=5)
        | st.dictionaries(texts, children, max_size=3).map(OrderedDict)
    ),
    max_leaves=40,
)


def outcome(function, *args):
    try:
        return ("ok", function(*args))
    except Exception as error:  # the comparison is the point: which type, from which twin
        return ("raised", type(error))


def same(left, right):
    """Equality that treats NaN as equal to itself and tells 1 from 1.0 from True."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(same(left[key], right[key]) for key in left)
    return type(left) is type(right) and left == right


def laid_out_like_json_dumps(value) -> bool:
    """False where the bytes are known to differ from ``json.dumps``, though both read the same:
    floats in exponent form (``1e-07`` vs ``1e-7``)."""
    if isinstance(value, float):
        return "e" not in repr(value)
    if isinstance(value, dict):
        return all(map(laid_out_like_json_dumps, value.keys())) and all(
            map(laid_out_like_json_dumps, value.values())
        )
    if isinstance(value, (list, tuple)):
        return all(map(laid_out_like_json_dumps, value))
    return True


@FUZZ
@given(values, texts)
def test_twins_agree_on_hostile_data_and_round_trip_it(twins, data, namespace):
    results = {name: outcome(twin.Codec(namespace).encode, data) for name, twin in twins.items()}
    assert results["python"] == results["cython"]
    assert outcome(twins["python"].check_json, data)[0] == results["python"][0]
    status, encoded = results["python"]
    if status == "raised":
        assert encoded in (TypeError, ValueError)
        return
    assert encoded == twins["cython"].encode_json(data)
    expected = json.loads(json.dumps(data))
    for twin in twins.values():
        assert same(twin.Codec(namespace).decode(encoded, "key"), expected)
        assert same(twin.decode_json(encoded.decode("ascii"), "key"), expected)
    if laid_out_like_json_dumps(data):
        assert encoded == json.dumps(data).encode()


@FUZZ
@given(values, st.sampled_from(["list", "dict", "nested"]))
def test_circular_structures_are_refused_alike(twins, data, shape):
    if shape == "list":
        circular: object = [data]
        circular.append(circular)
    elif shape == "dict":
        circular = {"data": data}
        circular["self"] = circular
    else:
        inner: list = [data]
        circular = {"outer": [inner]}
        inner.append(circular)
    results = [outcome(twin.encode_json, circular) for twin in twins.values()]
    assert results[0] == results[1]
    assert results[0][0] == "raised" and results[0][1] in (TypeError, ValueError)
    if outcome(twins["python"].check_json, data)[0] == "ok":
        assert results[0][1] is ValueError


@scaled(100)
@given(
    st.integers(min_value=_codec_py.MAX_DEPTH - 3, max_value=_codec_py.MAX_DEPTH + 3),
    st.lists(st.sampled_from(["list", "tuple", "dict"]), min_size=1, max_size=8),
    st.none() | st.integers() | texts | st.just([]) | st.just({}),
)
def test_nesting_at_the_depth_limit(twins, depth, kinds, leaf):
    """Exactly ``MAX_DEPTH`` containers encode; one more is ValueError, in both twins."""
    data = leaf
    containers = depth + (1 if isinstance(leaf, (list, dict)) else 0)
    for level in range(depth):
        kind = kinds[level % len(kinds)]
        data = [data] if kind == "list" else (data,) if kind == "tuple" else {"k": data}
    results = [outcome(twin.encode_json, data) for twin in twins.values()]
    assert results[0] == results[1]
    if containers <= _codec_py.MAX_DEPTH:
        assert results[0][0] == "ok"
        for twin in twins.values():
            assert twin.decode_json(results[0][1], "k") == json.loads(json.dumps(data))
    else:
        assert results[0] == ("raised", ValueError)


def truncations(payload: bytes):
    return st.integers(min_value=0, max_value=len(payload)).map(lambda size: payload[:size])


lenient_json = values.map(lambda value: json.dumps(value, default=repr, allow_nan=True, skipkeys=True))
payloads = (
    st.binary(max_size=64)
    | lenient_json.map(lambda text: text.encode("utf-8", "surrogatepass"))
    | lenient_json.map(lambda text: text.encode("utf-8", "surrogatepass")).flatmap(truncations)
    | lenient_json  # str replies, as from decode_responses=True clients
    | texts
    | texts.map(lambda text: json.dumps(text, ensure_ascii=False))  # raw surrogates inside a str reply
    | st.sampled_from(["NaN", "-Infinity", "[Infinity]", "1e400", "-0.0", '"\\ud800"', '"\\udc00\\ud800"'])
)


@FUZZ
@given(payloads)
def test_twins_decode_hostile_replies_alike(twins, payload):
    python, cython = (outcome(twin.decode_json, payload, "key") for twin in twins.values())
    assert python[0] == cython[0]
    if python[0] == "ok":
        assert same(python[1], cython[1])
    else:
        assert python[1] is cython[1] is CorruptSessionError


@FUZZ
@given(texts, texts)
def test_namespaced_keys_agree_and_keep_every_code_point(twins, namespace, key):
    python, cython = (twin.Codec(namespace).namespaced_key(key) for twin in twins.values())
    assert python == cython
    assert python.decode("utf-8", "surrogatepass") == f"{namespace}:{key}"


@pytest.mark.parametrize("name", ["python", "cython"])
def test_delete_is_escaped_like_json_dumps(twins, name):
    data = {"\x7f": "a\x7fb"}
    assert twins[name].decode_json(twins[name].encode_json(data), "k") == data
    assert twins[name].encode_json(data) == json.dumps(data).encode()


class HidingDict(dict):
    """A dict whose ``items()`` hides its contents; ujson reads the real storage."""

    def items(self):
        return iter(())


class HidingList(list):
    def __iter__(self):
        return iter(())


@pytest.mark.parametrize("data", [HidingDict(a=math.nan), HidingList([math.inf]), HidingDict(a={1.5: 1})])
@pytest.mark.parametrize("name", ["python", "cython"])
def test_container_subclasses_cannot_smuggle_non_json(twins, name, data):
    with pytest.raises((TypeError, ValueError)):
        twins[name].encode_json(data)


def layouts(data):
    """Bytes a reader may hold for ``data``: the store's, 1.0.0's, another client's compact form."""
    found = []
    for render in (
        lambda: _codec_py.encode_json(data),
        lambda: json.dumps(data).encode(),
        lambda: json.dumps(data, separators=(",", ":")).encode(),
        lambda: json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    ):
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            found.append(render())
    return found


@FUZZ
@given(values, values)
def test_encodes_as_is_exactly_the_strict_encoding_in_both_twins(twins, data, other):
    """The middleware writes a session again only when ``encodes_as`` is False: for JSON it
    must say True exactly when ``encode`` would write the same bytes, and both twins must
    agree on everything, for any bytes Redis may hold."""
    candidates = layouts(data) + layouts(other) + [b"", b"{", "\u00e9"]
    candidates += [payload.decode("ascii") for payload in candidates[:2] if isinstance(payload, bytes)]
    status, written = outcome(_codec_py.encode_json, data)
    for payload in candidates:
        answers = {name: twin.encodes_as(data, payload) for name, twin in twins.items()}
        assert answers["python"] == answers["cython"], payload
        if status == "ok":  # refused data (NaN, float keys...) is compared as ujson renders it
            expected = payload == (written if isinstance(payload, bytes) else written.decode("ascii"))
            assert answers["python"] is expected, (data, payload)


@FUZZ
@given(values, values)
def test_twins_tell_a_changed_session_alike(twins, data, other):
    """The middleware's test: unchanged exactly when the session holds the JSON value that was
    read (compact JSON equal), whichever layout Redis held it in, in both twins."""
    for payload in layouts(data):
        status, read = outcome(_codec_py.decode_json, payload, "key")
        if status == "raised":  # not UTF-8 (a lone surrogate): the middleware starts a new session
            continue
        for session in (
            read,
            json.loads(payload),
            other,
            [read],
            {**read, "x": 1} if isinstance(read, dict) else 0,
        ):
            answers = {}
            for name, twin in twins.items():
                codec = twin.Codec("ns")
                answers[name] = codec.unchanged(
                    session, codec.reference(codec.decode(payload, "key"), payload)
                )
            assert answers["python"] == answers["cython"], (payload, session)
            assert answers["python"] is (outcome(ujson.encode, session) == outcome(ujson.encode, read))


@pytest.mark.parametrize("name", ["python", "cython"])
def test_encodes_as_takes_sessions_read_from_1_0_0_with_non_finite_floats(twins, name):
    data = {"score": math.nan, "top": math.inf, "path": "/a\\/b\x7f"}
    assert twins[name].encodes_as(data, json.dumps(data).encode())
    assert not twins[name].encodes_as({**data, "score": 1.0}, json.dumps(data).encode())


ID_ALPHABET = string.ascii_letters + string.digits + "-_"


@st.composite
def cookie_ids(draw):
    """43 id characters half of the time, other lengths otherwise; now and then one stranger."""
    sid = draw(
        st.text(alphabet=ID_ALPHABET, min_size=43, max_size=43) | st.text(alphabet=ID_ALPHABET, max_size=45)
    )
    if sid and draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(sid) - 1))
        sid = sid[:at] + draw(st.characters()) + sid[at + 1 :]
    return sid


@st.composite
def cookie_headers(draw):
    """(header, prefix): mostly the cookie the prefix names, sometimes another one."""
    name = draw(st.sampled_from(["sid", "s", "sid2", "ßid"]))
    rest = draw(st.sampled_from(["", ";", "; other=1", "", ";x", ",", " ", "x"]) | st.text(max_size=5))
    prefix = draw(st.sampled_from([f"{name}="] * 3 + ["sid=", "s=", ""]))
    return f"{name}={draw(cookie_ids())}{rest}", prefix


@FUZZ
@given(cookie_headers())
def test_twins_read_the_same_session_id_from_a_cookie_header(twins, header_and_prefix):
    header, prefix = header_and_prefix
    found = {name: twin.first_cookie_id(header, prefix) for name, twin in twins.items()}
    assert found["python"] == found["cython"]
    for twin in twins.values():  # what the middleware calls: the same answer
        assert twin.Codec("ns").first_cookie_id(header, prefix) == found["python"]
    event("an id" if found["python"] is not None else "no id")
    if found["python"] is not None:  # exactly the falcon-free reading the middleware relies on
        assert header.startswith(prefix + found["python"])
        assert header[len(prefix) + 43 :][:1] in ("", ";") and _codec_py.is_session_id(found["python"])
