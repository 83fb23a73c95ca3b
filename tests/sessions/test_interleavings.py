"""Random overlapping requests in random interleavings on a real Redis: nothing is lost, logout is final.

Each example stores a random session, then runs 2-5 requests on it. A request reads the
session, changes random top-level keys (assigns, replaces, deletes) or logs out, and
writes; the reads and writes of all requests are interleaved in a random order
(support.driven runs the middleware's hooks in exactly that order). The expected result
is computed independently: each request's own changes, applied per top-level key in the
order the writes happened, to whatever the earlier writes left; a session left empty
is gone, and nothing brings a gone session back.
"""

import copy
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.driven import DrivenRequest
from support.hypothesis_profiles import FUZZ

from hug_store_redis.sessions import ISSUED_KEY, RedisSessionMiddleware, new_session_id

KEYS = ("a", "b", "c", "d", "e")
LOGOUT = "logout"
GONE = None

values = st.one_of(
    st.integers(-3, 3),
    st.text("xyz", max_size=3),
    st.lists(st.integers(0, 2), max_size=2),
    st.dictionaries(st.sampled_from("pq"), st.integers(0, 1), max_size=1),
)
sessions = st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=4)
changes = st.fixed_dictionaries(
    {
        "deleted": st.sets(st.sampled_from(KEYS), max_size=3),
        "assigned": st.dictionaries(st.sampled_from(KEYS), values, max_size=3),
    }
)
requests = st.one_of(changes, changes, changes, st.just(LOGOUT))


@st.composite
def scenarios(draw):
    base = draw(sessions)
    specs = draw(st.lists(requests, min_size=2, max_size=5))
    # Each request's index appears twice: its first turn is its read, its second its write.
    order = draw(st.permutations([index for index in range(len(specs)) for _ in range(2)]))
    return base, specs, order


def encoded(value):
    return json.dumps(value, sort_keys=True)


def serially_applied(state, read, mine):
    """``state`` with the top-level changes from ``read`` to ``mine``; GONE once empty."""
    assigned = {k: v for k, v in mine.items() if k not in read or encoded(read[k]) != encoded(v)}
    deleted = set(read) - set(mine)
    if not assigned and not deleted:
        return state
    state = {k: v for k, v in state.items() if k not in deleted} | assigned
    return state or GONE


@pytest.mark.parametrize("max_lifetime", [None, 600])
@FUZZ
@given(scenario=scenarios())
def test_interleaved_requests_equal_their_changes_applied_in_write_order(
    store, redis_client, scenario, max_lifetime
):
    """With ``max_lifetime`` too: every merge carries the issue time, which no handler sees."""
    base, specs, order = scenario
    sid = new_session_id()
    issued = int(time.time())
    stored_base = base if max_lifetime is None else {ISSUED_KEY: issued, **base}
    assert store.create(sid, store.encode(stored_base))
    middleware = RedisSessionMiddleware(store, max_lifetime=max_lifetime)
    driven = [DrivenRequest(middleware, sid) for _ in specs]
    expected = copy.deepcopy(base)
    reads = {}
    for index in order:
        request, spec = driven[index], specs[index]
        if index not in reads:
            session = request.read()
            assert session == ({} if expected is GONE else expected)
            reads[index] = None if expected is GONE else copy.deepcopy(session)
            if spec != LOGOUT:
                for key in spec["deleted"]:
                    session.pop(key, None)
                session.update(copy.deepcopy(spec["assigned"]))
            continue
        if spec == LOGOUT:
            middleware.destroy(request.request)
            expected = GONE
        elif reads[index] is not None and expected is not GONE:
            expected = serially_applied(expected, reads[index], request.session)
        request.write()
    payload = redis_client.get(f"store:{sid}")
    found = None if payload is None else json.loads(payload)
    if max_lifetime is not None and found is not None:
        assert found.pop(ISSUED_KEY) == issued
    assert found == expected
    if LOGOUT in specs:
        assert payload is None
