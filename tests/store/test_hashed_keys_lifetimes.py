"""``key_secrets`` on the per-write expiries ``max_lifetime`` uses: ``expire_s`` on the
conditional writes (a move included), ``touch(expire_ms=...)`` and ``untouched_reader``,
each on the session's handle, under whichever secret holds it, never on the id."""

from test_hashed_keys import NEW, OLD, redis_key

from hug_store_redis import RedisStore
from hug_store_redis.sessions import new_session_id

EXPIRATION = 3600


def test_conditional_writes_with_expire_s_go_to_the_handle(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION, key_secrets=[NEW])
    sid, new_sid = new_session_id(), new_session_id()
    assert store.create(sid, store.encode({"n": 1}), expire_s=50)
    assert 0 < redis_client.pttl(redis_key(NEW, sid)) <= 50_000
    read = store.read_payload(sid)
    assert store.compare_and_set(sid, read, store.encode({"n": 2}), expire_s=40).written
    assert 0 < redis_client.pttl(redis_key(NEW, sid)) <= 40_000
    assert store.create_replacing(new_sid, store.encode({"n": 3}), sid, expire_s=30)
    assert redis_client.keys("*") == [redis_key(NEW, new_sid)]
    assert 0 < redis_client.pttl(redis_key(NEW, new_sid)) <= 30_000


def test_a_move_to_the_newest_secret_keeps_the_write_s_expiry(redis_client):
    before = RedisStore(redis_client, expiration=EXPIRATION, key_secrets=[OLD])
    after = RedisStore(redis_client, expiration=EXPIRATION, key_secrets=[NEW, OLD])
    sid = new_session_id()
    before.set(sid, {"n": 1})
    read = after.read_payload(sid)
    assert after.compare_and_set(sid, read, after.encode({"n": 2}), expire_s=40).written
    assert redis_client.keys("*") == [redis_key(NEW, sid)]
    assert 0 < redis_client.pttl(redis_key(NEW, sid)) <= 40_000


def test_touch_with_expire_ms_reaches_the_session_under_an_older_secret(redis_client):
    before = RedisStore(redis_client, expiration=EXPIRATION, key_secrets=[OLD])
    after = RedisStore(redis_client, expiration=EXPIRATION, key_secrets=[NEW, OLD])
    sid = new_session_id()
    before.set(sid, {"n": 1})
    assert after.touch(sid, expire_ms=20_000)  # and moves it to the newest (renewals.py)
    assert redis_client.keys("*") == [redis_key(NEW, sid)]
    assert 0 < redis_client.pttl(redis_key(NEW, sid)) <= 20_000
    assert not after.touch(new_session_id(), expire_ms=20_000)  # never creates a key
    assert redis_client.keys("*") == [redis_key(NEW, sid)]


def test_the_untouched_reader_finds_an_older_secret_s_session_and_slides_nothing(redis_client):
    before = RedisStore(redis_client, expiration=EXPIRATION, key_secrets=[OLD])
    after = RedisStore(redis_client, expiration=EXPIRATION, key_secrets=[NEW, OLD])
    sid = new_session_id()
    before.set(sid, {"n": 1})
    redis_client.pexpire(redis_key(OLD, sid), 30_000)
    payload, ttl_ms, touched = after.untouched_reader()(sid)
    assert after.decode(payload, sid) == {"n": 1}
    assert 0 < ttl_ms <= 30_000 and not touched
    assert 0 < redis_client.pttl(redis_key(OLD, sid)) <= 30_000
    assert after.untouched_reader()(new_session_id())[0] is None
