"""``max_lifetime`` at its last second, on a clock the test steps (no sleeps).

The middleware checks the lifetime left before it writes (``_save_stamped``), and each attempt
of the write asks again (``Lifetime.expiry``): the clock may cross the end between the two, or
between a merge's check and the merged attempt's. An ended lifetime deletes the session, as
Redis's capped expiry would, and never turns into a 500 (``expire_s=0`` is refused by the
store, rightly: Redis refuses ``EX 0``).
"""

import json

from hug_store_redis.sessions import ISSUED_KEY, new_session_id
from hug_store_redis.sessions.lifetime import Lifetime
from hug_store_redis.sessions.session_write import Saved, save_existing

LIFETIME = 60
ISSUED = 1_900_000_000  # a fixed epoch second: the clock is the test's


class Clock:
    """Returns ``now``; ``tick`` is added after every reading."""

    def __init__(self, now, tick=0.0):
        self.now, self.tick = now, tick

    def __call__(self):
        now = self.now
        self.now += self.tick
        return now


def planted(store, redis_client, session):
    sid = new_session_id()
    read = json.dumps({ISSUED_KEY: ISSUED, **session}).encode()
    redis_client.set(f"{store.namespace}:{sid}", read, ex=3600)
    return sid, read


def test_a_lifetime_ending_between_the_check_and_the_write_deletes_the_session(store, redis_client):
    clock = Clock(ISSUED + LIFETIME - 1)  # issued 59 s ago: 1 s left
    lifetime = Lifetime(LIFETIME, store.expiration, 0, clock=clock)
    sid, read = planted(store, redis_client, {"n": 1})
    mine = lifetime.stamped({"n": 2}, ISSUED)
    assert lifetime.expire_s(ISSUED) == 1  # _save_stamped's check: a write may go
    clock.now += 0.01  # the clock moves 10 ms: the write's own expiry is 0
    saved = save_existing(store, sid, read, mine, store.encode(mine), expire_s=lifetime.expiry(ISSUED))
    assert saved is Saved.DELETED
    assert redis_client.exists(f"{store.namespace}:{sid}") == 0


def test_a_lifetime_ending_between_a_merges_check_and_the_merged_write_deletes_the_session(
    store, redis_client
):
    # Every reading moves the clock 10 ms: the first attempt's expiry (1.015 s left: EX 1),
    # the merge's check (1.005 s: the lifetime holds), the merged attempt's expiry (0.995 s: 0).
    clock = Clock(ISSUED + LIFETIME - 1.015, tick=0.01)
    lifetime = Lifetime(LIFETIME, store.expiration, 0, clock=clock)
    sid, read = planted(store, redis_client, {"n": 1})
    theirs = json.dumps({ISSUED_KEY: ISSUED, "n": 1, "other": True})
    redis_client.set(f"{store.namespace}:{sid}", theirs, ex=3600)  # another request wrote meanwhile
    mine = lifetime.stamped({"n": 2}, ISSUED)
    saved = save_existing(
        store,
        sid,
        read,
        mine,
        store.encode(mine),
        merge=lifetime.merging(None),
        expire_s=lifetime.expiry(ISSUED),
    )
    assert saved is Saved.DELETED
    assert redis_client.exists(f"{store.namespace}:{sid}") == 0
