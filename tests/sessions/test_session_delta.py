"""Delta and rebase: a request's top-level changes re-applied on a session another request wrote."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.hypothesis_profiles import FUZZ

from hug_store_redis.sessions import Delta, rebase

pytestmark = pytest.mark.one_twin

KEYS = st.sampled_from(["a", "b", "c", "cart", "user", "n"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
SESSIONS = st.dictionaries(KEYS, JSON, max_size=6)
# A request's changes: keys it assigns (to a value) and keys it deletes.
CHANGES = st.tuples(st.dictionaries(KEYS, JSON, max_size=3), st.sets(KEYS, max_size=2))


def stored(value):
    return json.dumps(value)


def changed(base, changes):
    assigned, deleted = changes
    session = {key: value for key, value in base.items() if key not in deleted}
    session.update(assigned)
    return session


@FUZZ
@given(SESSIONS, CHANGES, CHANGES)
def test_rebase_keeps_every_key_this_request_did_not_change(base, my_changes, their_changes):
    mine = changed(base, my_changes)
    theirs = changed(base, their_changes)
    merged = rebase(base, mine, theirs)
    for key in set(base) | set(mine) | set(theirs):
        if key in mine and (key not in base or stored(mine[key]) != stored(base[key])):
            assert merged[key] == mine[key]  # what this request wrote wins
        elif key in base and key not in mine:
            assert key not in merged  # what this request deleted stays deleted
        elif key in theirs:
            assert merged[key] == theirs[key]  # everything else is the other request's
        else:
            assert key not in merged


def test_in_place_change_of_a_nested_value_counts_as_assigning_the_key():
    base = {"cart": [1, 2], "user": "ann"}
    mine = {"cart": [1, 2, 3], "user": "ann"}
    delta = Delta(base, mine)
    assert delta.assigned == {"cart": [1, 2, 3]} and not delta.deleted
    assert rebase(base, mine, {"cart": [1, 2], "user": "ann", "flash": "hi"}) == {
        "cart": [1, 2, 3],
        "user": "ann",
        "flash": "hi",
    }


def test_values_compare_as_they_are_stored():
    assert Delta({"n": 1}, {"n": True}).assigned == {"n": True}
    assert Delta({"n": 1}, {"n": 1.0}).assigned == {"n": 1.0}
    assert not Delta({"n": [1]}, {"n": (1,)})  # a tuple is stored as the same list
    assert not Delta({"x": math.nan}, {"x": math.nan})  # NaN that 1.0.0 wrote, left alone


def test_merge_hook_decides():
    def merge_carts(base, mine, theirs):
        merged = rebase(base, mine, theirs)
        merged["cart"] = sorted(set(mine.get("cart", [])) | set(theirs.get("cart", [])))
        return merged

    base = {"cart": [1]}
    assert rebase(base, {"cart": [1, 2]}, {"cart": [1, 3]}, merge_carts) == {"cart": [1, 2, 3]}
    assert rebase(base, {"cart": [1, 2]}, {"cart": [1, 3]}) == {"cart": [1, 2]}
