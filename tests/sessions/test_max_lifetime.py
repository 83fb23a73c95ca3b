"""``max_lifetime``: a session ends a fixed time after its id was issued, however active it is.

The issue time sits in the stored JSON under ``ISSUED_KEY``; each test reads it, or plants an
older one, in Redis itself. Sessions "issued long ago" are planted rather than waited for; the
overlap tests at the lifetime's end wait for a 3-second lifetime to pass (a wait, not a timing
assert). TTLs are read with PTTL.
"""

import datetime
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import hug
import pytest
from support.commands import Commands
from support.driven import DrivenRequest
from support.overlap import Browser, Gates, gated_api, get_with_cookie, overlap
from support.servers import wait_for
from support.session_app import READ, call, issued_id, make_api, set_cookies
from support.store_cache import GENEROUS, sent_by_the_store, wait_cached

from hug_store_redis import RedisStore
from hug_store_redis.sessions import ISSUED_KEY, RedisSessionMiddleware, new_session_id

LIFETIME = 600
EXPIRED = "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure; HttpOnly; SameSite=Lax"


def stored(redis_client, sid, namespace="store"):
    payload = redis_client.get(f"{namespace}:{sid}")
    return None if payload is None else json.loads(payload)


def plant(redis_client, sid, session, *, issued_ago, ttl_s=86400):
    """A session as Redis would hold it, issued ``issued_ago`` seconds ago (None: no issue time)."""
    value = dict(session) if issued_ago is None else {ISSUED_KEY: int(time.time()) - issued_ago, **session}
    redis_client.set(f"store:{sid}", json.dumps(value), ex=ttl_s)
    return value


def a_session_id(api):
    return issued_id(call(api, "/write"))


@pytest.fixture
def api(store):
    return make_api(RedisSessionMiddleware(store, max_lifetime=LIFETIME))


def test_unset_adds_nothing_to_what_is_stored(store, redis_client):
    sid = a_session_id(make_api(RedisSessionMiddleware(store)))
    assert redis_client.get(f"store:{sid}") == b'{"counter": 1}'


def test_a_new_session_is_stamped_out_of_the_apps_sight_and_expires_with_its_lifetime(api, redis_client):
    before = int(time.time())
    sid = a_session_id(api)
    value = stored(redis_client, sid)
    assert list(value) == [ISSUED_KEY, "counter"] and before <= value[ISSUED_KEY] <= time.time()
    assert 0 < redis_client.pttl(f"store:{sid}") <= LIFETIME * 1000  # not the store's 86400 s
    assert call(api, "/read", sid).data == {"counter": 1}
    assert call(api, "/write", sid).data == 2
    assert stored(redis_client, sid) == {ISSUED_KEY: value[ISSUED_KEY], "counter": 2}


def test_a_read_only_request_is_still_one_round_trip(api, redis_client):
    sid = a_session_id(api)
    commands = Commands(redis_client)
    for _ in range(3):
        assert call(api, "/read", sid).data == {"counter": 1}
    assert commands.delta() == {name: 3 * count for name, count in READ.items()}


@pytest.mark.parametrize(
    "protection",
    [{"encryption_keys": [bytes(range(32))]}, {"key_secrets": [b"s" * 32], "encryption_keys": [bytes(32)]}],
    ids=["sealed", "hashed-and-sealed"],
)
def test_a_read_only_request_on_a_sealed_session_writes_nothing(redis_client, protection):
    """Change detection compares the opened JSON, never the sealed bytes (random nonces): with
    the compiled twin a read-only request used to rewrite the session every time."""
    pytest.importorskip("cryptography")
    api = make_api(RedisSessionMiddleware(RedisStore(redis_client, **protection), max_lifetime=LIFETIME))
    sid = a_session_id(api)
    commands = Commands(redis_client)
    for _ in range(3):
        assert call(api, "/read", sid).data == {"counter": 1}
    assert commands.delta() == {name: 3 * count for name, count in READ.items()}


def test_past_its_lifetime_a_session_is_not_honoured_and_the_next_request_starts_afresh(api, redis_client):
    """The key outlives the lifetime here (a lifetime lowered since it was written): the
    middleware's own check ends it, and Redis's capped expiry is not what this test sees."""
    old = new_session_id()
    plant(redis_client, old, {"counter": 5, "user": "ann"}, issued_ago=LIFETIME + 5)
    response = call(api, "/write", old)
    new = issued_id(response)
    assert new != old and response.data == 1
    assert stored(redis_client, new)["counter"] == 1 and "user" not in stored(redis_client, new)
    assert not redis_client.exists(f"store:{old}")

    plant(redis_client, old, {"counter": 5}, issued_ago=LIFETIME + 5)
    response = call(api, "/read", old)
    assert response.data == {} and set_cookies(response) == [EXPIRED]
    assert not redis_client.exists(f"store:{old}")


def test_regenerate_restarts_the_lifetime(api, redis_client):
    old = a_session_id(api)
    plant(redis_client, old, {"counter": 1}, issued_ago=LIFETIME - 100)  # 100 s left
    response = call(api, "/login", old)
    new = issued_id(response)
    assert new != old and not redis_client.exists(f"store:{old}")
    assert stored(redis_client, new)[ISSUED_KEY] >= int(time.time()) - 1
    assert 100_000 < redis_client.pttl(f"store:{new}") <= LIFETIME * 1000


def test_every_write_caps_the_expiry_at_the_remaining_lifetime(api, redis_client):
    sid = a_session_id(api)
    plant(redis_client, sid, {"counter": 1}, issued_ago=LIFETIME - 100, ttl_s=86400)
    assert call(api, "/write", sid).data == 2
    assert 0 < redis_client.pttl(f"store:{sid}") <= 100_000


def test_a_due_touch_is_capped_and_a_capped_expiry_is_never_due(api, redis_client):
    sid = a_session_id(api)
    plant(redis_client, sid, {"counter": 1}, issued_ago=LIFETIME - 100, ttl_s=30)  # idle expiry first
    commands = Commands(redis_client)
    assert call(api, "/read", sid).data == {"counter": 1}
    assert commands.delta() == {**READ, "pexpire": 1}  # the touch: after the read, capped
    assert 30_000 < redis_client.pttl(f"store:{sid}") <= 100_000
    commands = Commands(redis_client)
    for _ in range(5):
        call(api, "/read", sid)
    assert commands.delta() == {name: 5 * count for name, count in READ.items()}


def test_while_more_than_the_idle_expiry_is_left_touches_follow_the_stores_rule(store, redis_client):
    api = make_api(RedisSessionMiddleware(store, max_lifetime=3 * 86400, touch_after=60))
    sid = a_session_id(api)
    plant(redis_client, sid, {"counter": 1}, issued_ago=10, ttl_s=86400 - 30)  # not due yet
    commands = Commands(redis_client)
    call(api, "/read", sid)
    assert commands.delta() == READ
    redis_client.expire(f"store:{sid}", 86400 - 61)  # due
    call(api, "/read", sid)
    assert 86400_000 - 5_000 < redis_client.pttl(f"store:{sid}") <= 86400_000


def test_a_session_from_1_0_0_counts_as_issued_now_and_is_stamped_once(api, redis_client):
    sid = a_session_id(api)
    plant(redis_client, sid, {"counter": 7}, issued_ago=None, ttl_s=86400)
    before = int(time.time())
    commands = Commands(redis_client)
    assert call(api, "/read", sid).data == {"counter": 7}
    assert commands.delta()["set"] == 1  # the stamp written back, with a capped expiry
    value = stored(redis_client, sid)
    assert list(value) == [ISSUED_KEY, "counter"] and value[ISSUED_KEY] >= before
    assert 0 < redis_client.pttl(f"store:{sid}") <= LIFETIME * 1000
    commands = Commands(redis_client)
    assert call(api, "/read", sid).data == {"counter": 7}
    assert commands.delta() == READ


def forging_api(middleware):
    api = make_api(middleware)

    @hug.get("/forge", api=api)
    def forge(request, value: hug.types.number):
        request.context["session"][ISSUED_KEY] = value  # e.g. JSON a user sent, copied into the session
        return sorted(request.context["session"])

    return api


@pytest.mark.parametrize("forged", [10**12, 0])
def test_the_app_cannot_forge_the_issue_time(store, redis_client, forged):
    api = forging_api(RedisSessionMiddleware(store, max_lifetime=LIFETIME))
    sid = a_session_id(api)
    issued = plant(redis_client, sid, {"counter": 1}, issued_ago=LIFETIME - 100)[ISSUED_KEY]
    assert call(api, "/forge", sid, value=forged).data == sorted([ISSUED_KEY, "counter"])  # its own key
    assert stored(redis_client, sid) == {ISSUED_KEY: issued, "counter": 1}
    assert call(api, "/read", sid).data == {"counter": 1}
    assert 0 < redis_client.pttl(f"store:{sid}") <= 100_000


@pytest.mark.parametrize("bad", ["soon", 1.5, None, [1], True, "future"])
def test_an_issue_time_no_middleware_wrote_ends_the_session_never_a_500(api, redis_client, caplog, bad):
    sid = a_session_id(api)
    value = int(time.time()) + 3600 if bad == "future" else bad
    redis_client.set(f"store:{sid}", json.dumps({ISSUED_KEY: value, "counter": 1}), ex=100)
    with caplog.at_level(logging.WARNING, "hug_store_redis.middleware"):
        response = call(api, "/read", sid)
    if bad is None:  # null: as if it had none, a session from before the option
        assert response.data == {"counter": 1} and stored(redis_client, sid)[ISSUED_KEY] >= time.time() - 5
        return
    assert response.status == "200 OK" and response.data == {} and set_cookies(response) == [EXPIRED]
    assert not redis_client.exists(f"store:{sid}")
    (record,) = caplog.records
    assert sid[:8] in record.getMessage() and sid[:9] not in record.getMessage()


def test_a_timedelta_is_seconds(store):
    middleware = RedisSessionMiddleware(store, max_lifetime=datetime.timedelta(hours=8))
    assert middleware.max_lifetime == 8 * 3600
    assert RedisSessionMiddleware(store).max_lifetime is None


@pytest.mark.parametrize(
    ("bad", "error", "words"),
    [
        (-5, ValueError, "at least 1 second"),
        (0, ValueError, "at least 1 second"),
        (0.5, ValueError, "at least 1 second"),
        (float("inf"), ValueError, "at least 1 second"),
        (float("nan"), ValueError, "at least 1 second"),
        (datetime.timedelta(0), ValueError, "at least 1 second"),
        (30, ValueError, "shorter than touch_after"),
        ("3600", TypeError, "not str"),
        (True, TypeError, "not bool"),
    ],
)
def test_bad_values_are_refused_at_construction(store, bad, error, words):
    with pytest.raises(error, match=words):
        RedisSessionMiddleware(store, max_lifetime=bad, touch_after=60)


def test_a_store_whose_keys_never_expire_gets_the_lifetime_as_expiry(redis_client):
    api = make_api(RedisSessionMiddleware(RedisStore(redis_client, expiration=None), max_lifetime=LIFETIME))
    sid = a_session_id(api)
    assert 0 < redis_client.pttl(f"store:{sid}") <= LIFETIME * 1000
    commands = Commands(redis_client)
    call(api, "/read", sid)
    assert "pexpire" not in commands.delta()


# Overlapping requests, through a real threaded server.


@pytest.fixture
def gates():
    return Gates()


SET_A_AND_B = (("a", "/set", {"key": "a", "value": "A"}), ("b", "/set", {"key": "b", "value": "B"}))


def lifetime_browser(store, serve, gates, max_lifetime, merge=None):
    middleware = RedisSessionMiddleware(
        store, cookie_secure=False, max_lifetime=max_lifetime, touch_after=1, merge=merge
    )
    browser = Browser(serve(gated_api(middleware, gates), 4))
    assert browser.get("/set", key="base", value="0") == "ok"
    return browser


def test_overlapping_writes_carry_the_issue_time(store, serve, gates, redis_client):
    browser = lifetime_browser(store, serve, gates, LIFETIME)
    sid = browser.session_id()
    issued = stored(redis_client, sid)[ISSUED_KEY]
    overlap(
        browser, gates, ("a", "/set", {"key": "a", "value": "A"}), ("b", "/set", {"key": "b", "value": "B"})
    )
    assert stored(redis_client, sid) == {ISSUED_KEY: issued, "base": "0", "a": "A", "b": "B"}
    assert browser.get("/read") == {"base": "0", "a": "A", "b": "B"}


def test_a_merge_hook_never_sees_the_issue_time_and_cannot_drop_it(store, serve, gates, redis_client):
    seen = []

    def merge(base, mine, theirs):
        seen.extend([base, mine, theirs])
        return {key: value for key, value in {**theirs, **mine}.items() if key in ("base", "a", "b")}

    browser = lifetime_browser(store, serve, gates, LIFETIME, merge)
    sid = browser.session_id()
    issued = stored(redis_client, sid)[ISSUED_KEY]
    overlap(
        browser, gates, ("a", "/set", {"key": "a", "value": "A"}), ("b", "/set", {"key": "b", "value": "B"})
    )
    assert seen and all(ISSUED_KEY not in session for session in seen)
    assert stored(redis_client, sid) == {ISSUED_KEY: issued, "base": "0", "a": "A", "b": "B"}


@pytest.mark.parametrize("key_outlives_lifetime", [False, True])
def test_requests_overlapping_the_lifetimes_end_never_revive_the_session(
    store, serve, gates, redis_client, key_outlives_lifetime
):
    """Both requests read the session before its end and write after it. With the key still
    in Redis (a lifetime lowered since it was written) the middleware's check ends it; without,
    Redis's capped expiry already has. Either way nothing is written back and the next
    request, with the old cookie, gets a fresh session."""
    lifetime = 3
    browser = lifetime_browser(store, serve, gates, lifetime)
    sid = browser.session_id()
    ends_at = stored(redis_client, sid)[ISSUED_KEY] + lifetime
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(browser.get, "/set", key=name, value=name, gate=name) for name in ("first", "second")
        ]
        for name in ("first", "second"):
            assert gates[name][0].wait(10)
        if key_outlives_lifetime:
            redis_client.persist(f"store:{sid}")
        while time.time() < ends_at + 0.2:  # past the end: a wait, nothing is timed
            time.sleep(0.1)
        for name, future in zip(("first", "second"), futures, strict=True):
            gates[name][1].set()
            assert future.result(timeout=10) == "ok"
    assert not redis_client.exists(f"store:{sid}")
    session, cookies = get_with_cookie(browser.base, "/read", sid)
    assert session == {} and cookies and cookies[0].startswith("sid=;")
    assert not redis_client.exists(f"store:{sid}")


def test_a_1_0_0_session_stamped_by_two_overlapping_requests_expires_within_the_winning_lifetime(
    store, serve, gates, redis_client
):
    """Both requests read a session 1.0.0 wrote (no issue time); the first stamps it and writes,
    the second stamps it two seconds later and merges: the merge keeps the earlier issue time,
    and the key's TTL must end within that lifetime, not the second request's two seconds
    later. Before, the merged write kept the expiry counted from its own stamp."""
    browser = lifetime_browser(store, serve, gates, LIFETIME)
    sid = browser.session_id()
    plant(redis_client, sid, {"base": "0"}, issued_ago=None)
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(browser.get, "/set", key=name, value=name, gate=name)
            for name in ("first", "second")
        }
        for name in ("first", "second"):
            assert gates[name][0].wait(10)
        gates["first"][1].set()
        assert futures["first"].result(timeout=10) == "ok"
        issued = stored(redis_client, sid)[ISSUED_KEY]
        while time.time() < issued + 2:  # the second stamps later: a wait, nothing is timed
            time.sleep(0.1)
        gates["second"][1].set()
        assert futures["second"].result(timeout=10) == "ok"
    assert stored(redis_client, sid) == {
        ISSUED_KEY: issued,
        "base": "0",
        "first": "first",
        "second": "second",
    }
    before = time.time()
    assert 0 < redis_client.pttl(f"store:{sid}") <= (issued + LIFETIME - before) * 1000


def test_with_the_local_cache_a_read_only_request_sends_nothing_and_a_due_touch_stays_capped(redis_client):
    store = RedisStore(redis_client, f"cached-{uuid.uuid4().hex[:8]}", local_cache=True)
    try:
        api = make_api(RedisSessionMiddleware(store, max_lifetime=LIFETIME))
        sid = new_session_id()
        key = f"{store.namespace}:{sid}"
        redis_client.set(key, json.dumps({ISSUED_KEY: int(time.time()) - 10, "counter": 3}), ex=LIFETIME - 20)
        wait_cached(store, sid)
        commands = Commands(redis_client)
        for _ in range(20):
            assert call(api, "/read", sid).data == {"counter": 3}
        assert sent_by_the_store(commands) == {}
        redis_client.pexpire(key, 30_000)  # due: the touch goes to Redis, capped
        wait_for(  # once the invalidation of the PEXPIRE above reached the cache, a read touches
            "a capped touch",
            lambda: call(api, "/read", sid).data == {"counter": 3} and redis_client.pttl(key) > 30_000,
            timeout=GENEROUS,
        )
        assert redis_client.pttl(key) <= (LIFETIME - 10) * 1000  # the lifetime left
    finally:
        store.close()


def test_a_session_emptied_while_another_request_wrote_keeps_the_others_change(store, redis_client):
    """The conflicting write of an emptied session merges too: its issue time comes from the other writer."""
    sid = new_session_id()
    issued = plant(redis_client, sid, {"mine": 1}, issued_ago=10, ttl_s=LIFETIME - 20)[ISSUED_KEY]
    request = DrivenRequest(RedisSessionMiddleware(store, max_lifetime=LIFETIME), sid)
    request.read().clear()  # this request empties the session...
    redis_client.set(f"store:{sid}", json.dumps({ISSUED_KEY: issued, "mine": 1, "theirs": 2}), ex=100)
    request.write()  # ...while another added a key: that key stays, with the issue time
    assert stored(redis_client, sid) == {ISSUED_KEY: issued, "theirs": 2}
