"""Read-only requests on a cached session get a private copy of a decoded session the local
cache keeps (``RedisStore.keep_decoded``): overlapping requests through a real threaded
server (waitress), the overlap forced by events, both twins and store paths.

A handler may change its session in place; with one decoded session shared, that change
would reach the cache and every other request. Each test holds one request inside its handler
while others run: a change it never saves reaches nobody, a change another request saves
reaches Redis and every later hit (never the held request's copy), and a logout is final
however many decoded copies are about.
"""

import gc
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import hug
import pytest
from support.commands import Commands
from support.overlap import WAIT_S, Browser, Gates, get_with_cookie
from support.servers import wait_for
from support.store_cache import GENEROUS, decoded_kept, sent_by_the_store, wait_cached

from hug_store_redis import LocalCache, RedisSessionMiddleware, RedisStore
from hug_store_redis.cache import local_cache

START = {"user": "ann", "cart": ["apple", {"qty": 1}]}


@pytest.fixture
def gates():
    return Gates()


PROTECTED = {"key_secrets": [b"n" * 32, b"o" * 32], "encryption_keys": [bytes(range(32))]}
"""A rotation of ``key_secrets`` under way and sealed values: the kept session is under the
id's handle and decoded from the opened JSON."""


@pytest.fixture(params=["plain", "protected"])
def cached_store(request, redis_client):
    options = PROTECTED if request.param == "protected" else {}
    store = RedisStore(redis_client, f"decoded-{uuid.uuid4().hex[:8]}", local_cache=True, **options)
    yield store
    store.close()


@pytest.fixture
def app(cached_store, serve, gates):
    """(browser, middleware) on an app whose handlers hold at their gates."""
    middleware = RedisSessionMiddleware(cached_store, cookie_secure=False)
    api = hug.API(f"decoded_{uuid.uuid4().hex}")
    api.http.add_middleware(middleware)

    @hug.get("/start", api=api)
    def start(request):
        request.context["session"].update(json.loads(json.dumps(START)))
        return "ok"

    @hug.get("/read", api=api)
    def read(request):
        return request.context["session"]

    @hug.get("/scribble", api=api)
    def scribble(request, gate: str):
        """Change the session in place, hold, then put it back: nothing to save."""
        session = request.context["session"]
        session["cart"].append("pear")
        session["cart"][1]["qty"] = 9
        session["user"] = "eve"
        session["note"] = "draft"
        gates.hold(gate)
        session["cart"].pop()
        session["cart"][1]["qty"] = 1
        session["user"] = "ann"
        del session["note"]
        return "ok"

    @hug.get("/peek", api=api)
    def peek(request, gate: str):
        """Read, hold, and show what this request's session holds after the hold."""
        before = json.dumps(request.context["session"])
        gates.hold(gate)
        return {"before": json.loads(before), "after": request.context["session"]}

    @hug.get("/add", api=api)
    def add(request, item: str, gate: str = ""):
        """Change the nested cart in place and save it (after the hold, when there is one)."""
        session = request.context["session"]
        session["cart"].append(item)
        session["cart"][1]["qty"] += 1
        gates.hold(gate)
        return "ok"

    @hug.get("/logout", api=api)
    def logout(request):
        middleware.destroy(request)
        return "ok"

    browser = Browser(serve(api, threads=4))
    assert browser.get("/start") == "ok"
    return browser


def served_decoded(browser, store, expected):
    """Read until the cache keeps the session decoded and a read returns ``expected`` from it."""

    def kept_and_read():
        read = browser.get("/read")  # the first reads decode, and the cache keeps the result
        return read == expected and decoded_kept(store, browser.session_id()) == expected

    wait_for(f"the cache to keep {expected!r} decoded", kept_and_read, timeout=GENEROUS)


def stored(redis_client, store, sid):
    """What Redis holds for ``sid``, read past the cache (opened, when sealed)."""
    payload = redis_client.get(store.namespaced_key(sid))
    return None if payload is None else store.decode(payload, sid)


def test_a_change_a_request_never_saves_reaches_no_other_request(app, cached_store, gates, redis_client):
    served_decoded(app, cached_store, START)
    skipped = cached_store.stats()["skipped_writes"]
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(app.get, "/scribble", gate="scribble")
        assert gates["scribble"][0].wait(WAIT_S)  # its session changed in place, and held there
        commands = Commands(redis_client)
        assert app.get("/read") == START
        assert decoded_kept(cached_store, app.session_id()) == START
        assert sent_by_the_store(commands) == {}  # that read was a hit of the kept session
        gates["scribble"][1].set()
        assert held.result(timeout=WAIT_S) == "ok"
    assert app.get("/read") == START
    assert stored(redis_client, cached_store, app.session_id()) == START
    assert cached_store.stats()["skipped_writes"] == skipped + 3  # none of the three requests wrote


def test_a_saved_change_reaches_redis_and_every_later_hit_but_not_a_held_copy(
    app, cached_store, gates, redis_client
):
    served_decoded(app, cached_store, START)
    changed = {"user": "ann", "cart": ["apple", {"qty": 2}, "pear"]}
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(app.get, "/peek", gate="peek")
        assert gates["peek"][0].wait(WAIT_S)  # it holds a copy of START
        assert app.get("/add", item="pear") == "ok"  # in place on its own copy, then saved
        assert stored(redis_client, cached_store, app.session_id()) == changed
        gates["peek"][1].set()
        assert held.result(timeout=WAIT_S) == {"before": START, "after": START}
    assert stored(redis_client, cached_store, app.session_id()) == changed  # the peek wrote nothing
    served_decoded(app, cached_store, changed)
    commands = Commands(redis_client)
    for _ in range(5):
        assert app.get("/read") == changed
    assert sent_by_the_store(commands) == {}


def test_two_requests_changing_their_copies_in_place_both_saved(app, cached_store, gates, redis_client):
    served_decoded(app, cached_store, START)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(app.get, "/add", item="pear", gate="first")
        second = pool.submit(app.get, "/add", item="plum", gate="second")
        for gate in ("first", "second"):
            assert gates[gate][0].wait(WAIT_S)  # both changed their copies of START in place
        gates["first"][1].set()
        assert first.result(timeout=WAIT_S) == "ok"
        gates["second"][1].set()
        assert second.result(timeout=WAIT_S) == "ok"
    # Each request's own change, merged by top-level key: the second's cart wins whole.
    expected = {"user": "ann", "cart": ["apple", {"qty": 2}, "plum"]}
    assert stored(redis_client, cached_store, app.session_id()) == expected
    served_decoded(app, cached_store, expected)


def test_a_logout_is_final_while_another_request_holds_a_decoded_copy(app, cached_store, gates, redis_client):
    served_decoded(app, cached_store, START)
    sid = app.session_id()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(app.get, "/add", item="pear", gate="held")
        assert gates["held"][0].wait(WAIT_S)
        assert get_with_cookie(app.base, "/logout", sid)[0] == "ok"
        gates["held"][1].set()
        assert held.result(timeout=WAIT_S) == "ok"  # its write found the key gone
    assert stored(redis_client, cached_store, sid) is None
    assert decoded_kept(cached_store, sid) is None
    for _ in range(3):  # the old cookie opens nothing, from the cache or from Redis
        assert get_with_cookie(app.base, "/read", sid)[0] == {}
    assert stored(redis_client, cached_store, sid) is None


def test_the_request_that_decoded_the_session_changes_its_own_not_the_kept_one(
    app, cached_store, gates, redis_client
):
    wait_cached(cached_store, app.session_id())  # the bytes cached by the store's own reads
    assert decoded_kept(cached_store, app.session_id()) is None
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(app.get, "/scribble", gate="scribble")  # decodes the cached bytes, keeps a copy
        assert gates["scribble"][0].wait(WAIT_S)
        assert app.get("/read") == START
        assert decoded_kept(cached_store, app.session_id()) == START
        gates["scribble"][1].set()
        assert held.result(timeout=WAIT_S) == "ok"
    served_decoded(app, cached_store, START)
    assert stored(redis_client, cached_store, app.session_id()) == START


def keep_decoded(store, sid):
    """What the middleware does on a hit with nothing kept yet: read, decode, keep."""
    payload, _, _ = store.sliding_reader(60)(sid)
    data, opened = store.decode_stored(payload, sid)
    store.keep_decoded(sid, payload, data, store.codec.reference(data, opened), opened)
    return decoded_kept(store, sid) == START


def test_a_store_sharing_the_cache_is_never_served_a_session_another_store_opened(redis_client):
    """Two stores on one server, namespace and LocalCache, one with ``encryption_keys``: the
    session the sealing store opened and keeps is not the other's to read (it lacks the keys)."""
    cache = LocalCache()
    namespace = f"shared-{uuid.uuid4().hex[:8]}"
    sealing = RedisStore(redis_client, namespace, local_cache=cache, encryption_keys=[bytes(range(32))])
    other = RedisStore(redis_client, namespace, local_cache=cache)
    try:
        sid = uuid.uuid4().hex
        sealing.set(sid, START)
        wait_cached(sealing, sid)
        wait_for(
            "the sealing store to keep the session decoded", lambda: keep_decoded(sealing, sid), GENEROUS
        )
        hit = other.decoded_reader(60)
        assert hit is not None and hit(sid) is None  # read as bytes it cannot open, as before
        own = sealing.decoded_reader(60)
        assert own is not None
        served = own(sid)
        assert served and served[1] == START
    finally:
        other.close()
        sealing.close()


def test_without_the_gil_the_store_keeps_nothing_decoded(redis_client, monkeypatch):
    """A free-threaded build (forced here): the lock-free decoded reader is never handed out,
    and reads go through the cache's locked lookup."""
    monkeypatch.setattr(local_cache, "gil_enabled", lambda: False)
    store = RedisStore(redis_client, f"nogil-{uuid.uuid4().hex[:8]}", local_cache=LocalCache())
    try:
        assert store.decoded_reader(60) is None
        store.set("abc", START)
        wait_cached(store, "abc")  # hits, under the lock
        assert RedisSessionMiddleware(store)._decoded_hit is None
    finally:
        store.close()


def test_a_dropped_middlewares_decoded_reader_goes_with_it(cached_store):
    """The store closes the readers it handed out, without keeping them alive: a process that
    builds middlewares (an app per test, a reload) does not grow with each."""
    readers = cached_store._cached._decoded_hits
    before = len(readers)
    middlewares = [RedisSessionMiddleware(cached_store) for _ in range(3)]
    assert len(readers) == before + 3
    del middlewares
    gc.collect()
    assert len(readers) == before
    kept = RedisSessionMiddleware(cached_store)
    cached_store.close()  # what is still held is closed
    assert kept._decoded_hit is not None and kept._decoded_hit("abc") is None


@pytest.mark.parametrize("cached_store", ["protected"], indirect=True)
def test_a_session_under_the_older_secret_is_never_kept_decoded_until_it_moves(
    app, cached_store, redis_client
):
    """A rotation under way: a session stored under the older secret's handle is read under
    that handle (its bytes installed in the cache), while decoded hits and ``keep_decoded``
    look under the newest. Nothing is kept and no read is a decoded hit until a write moves
    it to the newest."""
    sid = app.session_id()
    older = RedisStore(
        redis_client,
        cached_store.namespace,
        key_secrets=[PROTECTED["key_secrets"][1]],
        encryption_keys=PROTECTED["encryption_keys"],
    )
    older_key = older.namespaced_key(sid)
    assert older_key in cached_store.redis_keys(sid) and older_key != cached_store.namespaced_key(sid)
    assert cached_store.delete(sid)
    older.set(sid, START)
    entries = cached_store.local_cache._entries

    def read_from_the_cached_older_key() -> bool:
        assert get_with_cookie(app.base, "/read", sid)[0] == START
        return older_key in entries

    wait_for("the older key's bytes cached", read_from_the_cached_older_key, timeout=GENEROUS)
    reader = cached_store.decoded_reader(60)
    assert reader is not None
    for _ in range(3):  # each read decodes (an older handle is read from Redis): nothing kept
        assert get_with_cookie(app.base, "/read", sid)[0] == START
        assert reader(sid) is None
        entry = entries.get(older_key)
        assert (entry is None or entry[3] is None) and decoded_kept(cached_store, sid) is None
    assert app.get("/add", item="pear") == "ok"  # a write moves it to the newest handle
    assert redis_client.exists(older_key) == 0
    moved = {"user": "ann", "cart": ["apple", {"qty": 2}, "pear"]}
    served_decoded(app, cached_store, moved)
    assert reader(sid) and reader(sid)[1] == moved
