"""A session that is only read moves to the newest ``key_secrets`` secret, and is sealed again
under the newest ``encryption_keys`` key, when its lazy touch is due: after one idle expiration
on the rotated fleet, every live session is under the newest, so retiring the old secret or
key (step 3 of a rotation) logs nobody out. Before, reads slid the expiry on the old key and
never moved it: a session read often enough stayed under the old secret for ever.
"""

import base64

import pytest
from hug.exceptions import StoreKeyNotFound
from support.forced_moves import LogoutBeforeCreate

from hug_store_redis import RedisStore
from hug_store_redis.sessions import new_session_id

OLD, NEW = b"o" * 32, b"n" * 32
OLD_KEY, NEW_KEY = bytes(range(32)), bytes(range(100, 132))
TOUCH_AFTER = 10  # due once fewer than 86,390 s are left: after aged(), not right after a write


def aged(client, store, sid):
    """The session's key as if it had been idle for most of a day: its lazy touch is due."""
    assert client.pexpire(store.namespaced_key(sid), 60_000)


def key_id(stored: bytes) -> bytes:
    return base64.urlsafe_b64decode(stored)[1:5]


@pytest.mark.parametrize("touch_after", [TOUCH_AFTER, 0])
def test_a_read_whose_touch_is_due_moves_the_session_to_the_newest_secret(redis_client, touch_after):
    before = RedisStore(redis_client, key_secrets=[OLD])
    after = RedisStore(redis_client, key_secrets=[NEW, OLD])
    sid = new_session_id()
    before.set(sid, {"n": 1})
    aged(redis_client, before, sid)
    read = after.read_payload_sliding(sid, touch_after)
    assert after.decode(read.payload, sid) == {"n": 1}
    assert redis_client.keys("*") == [after.namespaced_key(sid)]
    retired = RedisStore(redis_client, key_secrets=[NEW])  # step 3: the old secret gone
    assert retired.get(sid) == {"n": 1}
    assert after.compare_and_set(sid, read.payload, after.encode({"n": 2})).written  # its base holds


def test_a_read_with_no_touch_due_writes_nothing(redis_client):
    before = RedisStore(redis_client, key_secrets=[OLD], encryption_keys=[OLD_KEY])
    after = RedisStore(redis_client, key_secrets=[NEW, OLD], encryption_keys=[NEW_KEY, OLD_KEY])
    sid = new_session_id()
    before.set(sid, {"n": 1})
    stored = redis_client.get(before.namespaced_key(sid))
    assert after.read_payload_sliding(sid, TOUCH_AFTER).payload == stored
    assert redis_client.keys("*") == [before.namespaced_key(sid)]
    assert redis_client.get(before.namespaced_key(sid)) == stored


def test_a_read_whose_touch_is_due_seals_again_under_the_newest_key(redis_client):
    before = RedisStore(redis_client, encryption_keys=[OLD_KEY])
    after = RedisStore(redis_client, encryption_keys=[NEW_KEY, OLD_KEY])
    sid = new_session_id()
    before.set(sid, {"n": 1})
    stale = redis_client.get(after.namespaced_key(sid))
    aged(redis_client, before, sid)
    read = after.read_payload_sliding(sid, TOUCH_AFTER)
    stored = redis_client.get(after.namespaced_key(sid))
    assert key_id(stored) != key_id(stale) and read.payload == stored
    assert RedisStore(redis_client, encryption_keys=[NEW_KEY]).get(sid) == {"n": 1}
    aged(redis_client, after, sid)
    again = after.read_payload_sliding(sid, TOUCH_AFTER)  # under the newest now: only the touch
    assert again.payload == stored == redis_client.get(after.namespaced_key(sid))


def test_both_at_once_and_the_capped_touch_too(redis_client):
    """``max_lifetime`` reads without touching and then touches with its own expiry."""
    before = RedisStore(redis_client, key_secrets=[OLD], encryption_keys=[OLD_KEY])
    after = RedisStore(redis_client, key_secrets=[NEW, OLD], encryption_keys=[NEW_KEY, OLD_KEY])
    sid = new_session_id()
    before.set(sid, {"n": 1})
    assert after.untouched_reader()(sid)[0] is not None
    assert redis_client.keys("*") == [before.namespaced_key(sid)]
    assert after.touch(sid, expire_ms=5000)
    assert redis_client.keys("*") == [after.namespaced_key(sid)]
    assert 0 < redis_client.pttl(after.namespaced_key(sid)) <= 5000
    retired = RedisStore(redis_client, key_secrets=[NEW], encryption_keys=[NEW_KEY])
    assert retired.get(sid) == {"n": 1}
    newest_only = RedisStore(redis_client, encryption_keys=[NEW_KEY, OLD_KEY])
    plain_sid = new_session_id()
    RedisStore(redis_client, encryption_keys=[OLD_KEY]).set(plain_sid, {"m": 1})
    assert newest_only.touch(plain_sid, expire_ms=5000)
    assert RedisStore(redis_client, encryption_keys=[NEW_KEY]).get(plain_sid) == {"m": 1}


def test_a_logout_during_the_move_on_read_stays_final(redis_client):
    before = RedisStore(redis_client, key_secrets=[OLD])
    after = RedisStore(redis_client, key_secrets=[NEW, OLD])
    sid = new_session_id()
    before.set(sid, {"n": 1})
    keys = [before.namespaced_key(sid), after.namespaced_key(sid)]
    aged(redis_client, before, sid)
    after._transport = LogoutBeforeCreate(after._transport, redis_client, keys)
    after.read_payload_sliding(sid, TOUCH_AFTER)
    assert redis_client.keys("*") == []
    with pytest.raises(StoreKeyNotFound):
        after.get(sid)


def test_a_changed_old_value_is_left_to_its_writer(redis_client):
    """Another writer changed the session between the read and its move: nothing is moved
    over it (its bytes are not the read's), and its next write moves it."""
    before = RedisStore(redis_client, key_secrets=[OLD])
    after = RedisStore(redis_client, key_secrets=[NEW, OLD])
    sid = new_session_id()
    before.set(sid, {"n": 1})

    class ChangedBeforeMove:
        def __init__(self, transport):
            self._transport = transport

        def read(self, key):
            before.set(sid, {"n": 2})
            return self._transport.read(key)

        def __getattr__(self, name):
            return getattr(self._transport, name)

    aged(redis_client, before, sid)
    after._transport = ChangedBeforeMove(after._transport)
    after.read_payload_sliding(sid, TOUCH_AFTER)
    assert redis_client.keys("*") == [before.namespaced_key(sid)]
    assert before.get(sid) == {"n": 2}
