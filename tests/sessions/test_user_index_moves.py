"""Pruning the per-user index during a ``key_secrets`` rotation, half done (step 2: some servers
write under the new secret, others still under the old, so a session moves both ways).

A session moving between its two keys exists under one or the other (or both) at every
moment, but two looks at them, one key each, can both miss it when a move lands between
them. Pruning must not take that for an ended session: each test forces the moves between
this index's looks (``support.forced_moves``), on a server and on a Cluster.
"""

import pytest
from support.forced_moves import Moves, MovesAfterMissedExists, MovesBetweenPipelinedCommands

from hug_store_redis import RedisStore
from hug_store_redis.sessions import UserSessionIndex, new_session_id
from hug_store_redis.sessions import user_sessions as module
from hug_store_redis.transport.scripts import entry_fields

EXPIRATION = 100
OLD, NEW = b"o" * 32, b"n" * 32


@pytest.fixture(params=["server", "cluster"])
def client(request):
    return request.getfixturevalue("redis_client" if request.param == "server" else "cluster_client")


@pytest.fixture
def fleet(client, monkeypatch):
    """``(index, this, rotated, not_yet, sid, handle)``: a session bound to "alice" under OLD,
    this index's store and another on ``[NEW, OLD]``, one still on ``[OLD, NEW]``; an entry
    without its key is dead at once (no login grace)."""
    not_yet = RedisStore(client, expiration=EXPIRATION, key_secrets=[OLD, NEW])
    this = RedisStore(client, expiration=EXPIRATION, key_secrets=[NEW, OLD])
    rotated = RedisStore(client, expiration=EXPIRATION, key_secrets=[NEW, OLD])
    index = UserSessionIndex(this)
    sid = new_session_id()
    handle = index.add("alice", sid)
    not_yet.set(sid, {"n": 0})
    monkeypatch.setattr(module, "PENDING_GRACE", 0)
    yield index, this, rotated, not_yet, sid, handle
    this.clear()


def writes(store, sid, value):
    """Another server's request: read the session, write ``value`` (moving it to its newest)."""

    def write():
        read = store.read_payload(sid)
        assert store.compare_and_set(sid, read, store.encode(value)).written

    return write


def forced(index, this, client, moves):
    index._client = MovesBetweenPipelinedCommands(client, moves)
    this._transport = MovesAfterMissedExists(this._transport, moves)


def test_a_session_moved_between_two_pipelined_looks_keeps_its_entry(client, fleet):
    """EXISTS new (miss) -> moved from old to new -> EXISTS old (miss): before, the entry of a
    live session was pruned."""
    index, this, rotated, _, sid, handle = fleet
    moves = Moves(writes(rotated, sid, {"n": 1}))
    forced(index, this, client, moves)
    assert [entry.handle for entry in index.sessions("alice")] == [handle]
    assert moves.left == 0 and rotated.get(sid) == {"n": 1}
    assert client.hget(index.index_key("alice"), entry_fields(handle)[0]) is not None


def test_a_session_moved_away_and_back_between_every_look_keeps_its_entry(client, fleet):
    """Opposite moves after every look that misses, six of them: the index looks again as the
    store's reads do (``MOVE_ROUNDS``) and finds the session."""
    index, this, rotated, not_yet, sid, handle = fleet
    movers = [rotated, not_yet] * 3  # to NEW, back to OLD, ...
    moves = Moves(*(writes(store, sid, {"n": n}) for n, store in enumerate(movers, 1)))
    forced(index, this, client, moves)
    assert [entry.handle for entry in index.sessions("alice")] == [handle]
    assert moves.left == 0 and not_yet.get(sid) == {"n": 6}


def test_an_ended_session_is_still_pruned_after_the_extra_looks(client, fleet):
    """The extra looks only find what exists: a session logged out is pruned, nothing created."""
    index, this, _, not_yet, sid, handle = fleet
    not_yet.delete(sid)
    assert index.sessions("alice") == []
    assert client.hget(index.index_key("alice"), entry_fields(handle)[0]) is None
    assert not this.exists(sid) and not not_yet.exists(sid)
