"""The compiled codec against its specification, input for input (Hypothesis differential)."""

import importlib
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hug_store_redis import CorruptSessionError, _codec_py

pytestmark = pytest.mark.one_twin


@pytest.fixture(scope="module")
def speedups(request):
    """The compiled twin; a missing build is an error unless --no-extensions opts out."""
    if request.config.getoption("--no-extensions"):
        pytest.skip("--no-extensions: there is no compiled twin to compare")
    return importlib.import_module("hug_store_redis._speedups")


@pytest.fixture(scope="module")
def twins(speedups):
    return {"python": _codec_py, "cython": speedups}


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)
hostile_scalars = (
    json_scalars
    | st.floats()
    | st.binary(max_size=8)
    | st.sets(st.integers(), max_size=2)
    | st.complex_numbers()
    | st.datetimes()
    | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text() | st.integers() | st.booleans() | st.none() | st.floats() | st.tuples(st.integers()),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def outcome(function, *args):
    try:
        return ("ok", function(*args))
    except Exception as error:  # the comparison is the point: which type, from which twin
        return ("raised", type(error))


def same(left, right):
    """Equality that treats NaN as equal to itself, for decoded values."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[key], right[key]) for key in left)
    return type(left) is type(right) and left == right


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_values)
def test_encode_matches_between_twins(twins, data):
    python, cython = (outcome(twins[name].encode_json, data) for name in ("python", "cython"))
    assert python == cython


@settings(max_examples=300)
@given(json_values)
def test_encode_writes_exactly_what_json_dumps_writes(speedups, data):
    """Same bytes as 1.0.0's ``json.dumps`` (floats in exponent form may differ; see README)."""
    encoded = speedups.encode_json(data)
    assert json.loads(encoded) == json.loads(json.dumps(data))
    if "e" not in json.dumps(data):
        assert encoded == json.dumps(data).encode()


@settings(max_examples=300)
@given(st.binary(max_size=64) | json_values.map(lambda value: json.dumps(value).encode()))
def test_decode_matches_between_twins(twins, payload):
    python, cython = (outcome(twins[name].decode_json, payload, "key") for name in ("python", "cython"))
    assert python[0] == cython[0]
    if python[0] == "ok":
        assert same(python[1], cython[1])
    else:
        assert python[1] is cython[1] is CorruptSessionError


@settings(max_examples=200)
@given(st.text(), st.text() | st.integers() | st.binary() | st.none())
def test_namespaced_key_matches_between_twins(twins, namespace, key):
    python, cython = (outcome(twins[name].Codec(namespace).namespaced_key, key) for name in twins)
    assert python == cython


@pytest.mark.parametrize("name", ["python", "cython"])
def test_codec_rejects_non_str_namespace_the_same_way(twins, name):
    with pytest.raises(TypeError, match="namespace must be str"):
        twins[name].Codec(b"ns")


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
