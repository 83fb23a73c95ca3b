"""``Codec.copy``, the private copy a local cache hands each request of a decoded session it
keeps: the same in both twins, every exact dict and list new (so no change to one copy reaches
another), everything else shared (leaves are immutable; other types are never decoded)."""

from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.hypothesis_profiles import FUZZ

pytestmark = pytest.mark.one_twin

leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=4) | st.integers(), children, max_size=4)
        | st.dictionaries(st.text(max_size=4), children, max_size=3).map(OrderedDict)
    ),
    max_leaves=30,
)


def copied_alike(original, copy) -> bool:
    """``copy`` is ``original`` with each exact dict and list a new object, all else the same object."""
    if type(original) is dict:
        return (
            type(copy) is dict
            and copy is not original
            and list(copy) == list(original)
            and all(copied_alike(original[key], copy[key]) for key in original)
        )
    if type(original) is list:
        return (
            type(copy) is list
            and copy is not original
            and len(copy) == len(original)
            and all(map(copied_alike, original, copy))
        )
    return copy is original


@FUZZ
@given(values)
def test_both_twins_copy_every_dict_and_list_and_share_the_rest(twins, data):
    for twin in twins.values():
        assert copied_alike(data, twin.Codec("ns").copy(data))


@pytest.mark.parametrize("name", ["python", "cython"])
def test_a_change_to_a_copy_reaches_neither_the_original_nor_another_copy(twins, name):
    codec = twins[name].Codec("ns")
    kept = codec.decode(b'{"cart": [1, {"n": 2}], "user": "ann"}', "key")
    first, second = codec.copy(kept), codec.copy(kept)
    first["cart"][1]["n"] = 3
    first["cart"].append(4)
    first["user"] = "bob"
    assert kept == second == {"cart": [1, {"n": 2}], "user": "ann"}


@pytest.mark.parametrize("name", ["python", "cython"])
def test_past_the_depth_limit_both_twins_refuse_alike(twins, name):
    codec = twins[name].Codec("ns")
    limit = twins[name].MAX_DEPTH
    deepest_copied: list = []
    for _ in range(limit - 1):
        deepest_copied = [deepest_copied]
    assert codec.copy(deepest_copied) == deepest_copied
    with pytest.raises(RecursionError):
        codec.copy([deepest_copied])
    with pytest.raises(RecursionError):
        codec.copy({"a": [deepest_copied]})
