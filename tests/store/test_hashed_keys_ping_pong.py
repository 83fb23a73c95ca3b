"""A fleet half rotated: servers on ``[NEW, OLD]`` and on ``[OLD, NEW]`` move one session in
opposite directions. A reader or writer that looks at one key while a move has just taken
the session to the other must look again, not treat the session as gone: each test forces
two opposite moves between this store's round trips, the interleaving that logged people
out in tests/sessions/test_key_rotation.py's half-rotated fleet.
"""

from hug_store_redis import RedisStore
from hug_store_redis.sessions import new_session_id

OLD = b"o" * 32
NEW = b"n" * 32


class MovesAfterMisses:
    """The store's transport, running the next of ``moves`` right after each of its reads or
    compare-and-sets that found no key: another server's write moves the session meanwhile."""

    def __init__(self, transport, *moves):
        self._transport, self._moves = transport, list(moves)

    def _after(self, missed):
        if missed and self._moves:
            self._moves.pop(0)()

    def read(self, key):
        reply = self._transport.read(key)
        self._after(reply is None)
        return reply

    def read_sliding(self, key, touch_below_ms):
        reply = self._transport.read_sliding(key, touch_below_ms)
        self._after(reply[0] is None)
        return reply

    def compare_and_set(self, key, expected, payload, expire_s=None):
        reply = self._transport.compare_and_set(key, expected, payload, expire_s)
        self._after(reply == 0)
        return reply

    def delete(self, key):
        deleted = self._transport.delete(key)
        self._after(not deleted)
        return deleted

    def exists(self, key):
        found = self._transport.exists(key)
        self._after(not found)
        return found

    def __getattr__(self, name):
        return getattr(self._transport, name)


def fleet(redis_client):
    """``(this, rotated, not_yet, sid)``: a session under OLD, this store and another on
    ``[NEW, OLD]``, and one still on ``[OLD, NEW]``."""
    not_yet = RedisStore(redis_client, key_secrets=[OLD, NEW])
    sid = new_session_id()
    not_yet.set(sid, {"n": 0})
    return (
        RedisStore(redis_client, key_secrets=[NEW, OLD]),
        RedisStore(redis_client, key_secrets=[NEW, OLD]),
        not_yet,
        sid,
    )


def writes(store, sid, value):
    """Another server's request: read the session, write ``value`` (moving it to its newest)."""

    def write():
        read = store.read_payload(sid)
        assert store.compare_and_set(sid, read, store.encode(value)).written

    return write


def test_a_session_moved_away_and_back_between_a_readers_round_trips_is_still_found(redis_client):
    """Read NEW (miss) -> moved to NEW -> read OLD (miss) -> moved back to OLD -> read NEW
    (miss): before, the session existed throughout and the reader saw none."""
    this, rotated, not_yet, sid = fleet(redis_client)
    this._transport = MovesAfterMisses(
        this._transport, writes(rotated, sid, {"n": 1}), writes(not_yet, sid, {"n": 2})
    )
    payload = this.read_payload_sliding(sid, 10).payload
    assert payload is not None and this.decode(payload, sid) == {"n": 2}


def test_read_payload_finds_a_session_moved_away_and_back_too(redis_client):
    this, rotated, not_yet, sid = fleet(redis_client)
    this._transport = MovesAfterMisses(
        this._transport, writes(rotated, sid, {"n": 1}), writes(not_yet, sid, {"n": 2})
    )
    assert this.get(sid) == {"n": 2}


def test_a_write_whose_session_moved_away_and_back_meanwhile_is_a_conflict_not_gone(redis_client):
    """Compare-and-set NEW (gone) -> moved to NEW -> read OLD (none) -> moved back to OLD ->
    compare-and-set NEW (gone): before, the write ended a session that existed."""
    this, rotated, not_yet, sid = fleet(redis_client)
    read = this.read_payload(sid)
    this._transport = MovesAfterMisses(
        this._transport, writes(rotated, sid, {"n": 1}), writes(not_yet, sid, {"n": 2})
    )
    outcome = this.compare_and_set(sid, read, this.encode({"n": 0, "mine": 1}))
    assert outcome.conflict and this.decode(outcome.current, sid) == {"n": 2}
    assert not_yet.get(sid) == {"n": 2}


def test_a_delete_whose_session_moved_away_and_back_meanwhile_is_a_conflict_not_gone(redis_client):
    this, rotated, not_yet, sid = fleet(redis_client)
    read = this.read_payload(sid)
    this._transport = MovesAfterMisses(
        this._transport,
        writes(rotated, sid, {"n": 1}),
        writes(not_yet, sid, {"n": 2}),
    )
    outcome = this.compare_and_set(sid, read, b"")
    assert outcome.conflict and not_yet.get(sid) == {"n": 2}


def test_a_session_really_logged_out_stays_gone_after_the_extra_looks(redis_client):
    """The extra looks only ever find what exists: a logout is still final, nothing is created."""
    this, _, not_yet, sid = fleet(redis_client)
    read = this.read_payload(sid)
    not_yet.delete(sid)
    assert this.read_payload_sliding(sid, 10).payload is None
    assert this.compare_and_set(sid, read, this.encode({"late": 1})).gone
    assert redis_client.keys("*") == []


def test_a_logout_whose_session_moved_between_its_deletes_stays_logged_out(redis_client):
    """DEL NEW (none) -> moved from OLD to NEW -> DEL OLD (none): before, the logout reported
    nothing deleted and the session lived on under NEW."""
    this, rotated, not_yet, sid = fleet(redis_client)
    this._transport = MovesAfterMisses(this._transport, writes(rotated, sid, {"n": 1}))
    this.delete(sid)
    assert not not_yet.exists(sid) and not rotated.exists(sid)
    assert redis_client.keys("*") == []


def test_a_logout_with_opposite_moves_after_every_miss_stays_logged_out(redis_client):
    """Moves both ways after each delete or look that misses: the logout looks again as reads
    do and deletes the copy it finds."""
    this, rotated, not_yet, sid = fleet(redis_client)
    movers = [rotated, not_yet] * 2
    this._transport = MovesAfterMisses(
        this._transport, *(writes(store, sid, {"n": n}) for n, store in enumerate(movers, 1))
    )
    this.delete(sid)
    assert not not_yet.exists(sid) and not rotated.exists(sid)
    assert redis_client.keys("*") == []


class CountedReads:
    """The store's transport, counting its sliding reads (one round trip each)."""

    def __init__(self, transport):
        self._transport, self.reads = transport, 0

    def read_sliding(self, key, touch_below_ms):
        self.reads += 1
        return self._transport.read_sliding(key, touch_below_ms)

    def __getattr__(self, name):
        return getattr(self._transport, name)


def test_a_hit_stays_one_round_trip_and_a_miss_looks_three_rounds(redis_client):
    """The extra looks cost only a miss: the newest key, then three rounds of the older and the newest."""
    this, _, _, sid = fleet(redis_client)
    this._transport = counted = CountedReads(this._transport)
    this.set(sid, {"n": 1})  # under NEW now
    assert this.read_payload_sliding(sid, 10).payload is not None and counted.reads == 1
    assert this.read_payload_sliding(new_session_id(), 10).payload is None and counted.reads == 1 + 1 + 3 * 2
