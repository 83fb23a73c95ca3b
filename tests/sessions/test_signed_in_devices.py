"""Signed-in devices through the middleware: bind_user, user_sessions, destroy_user_session(s).

On one server and on a Cluster (the index and the sessions in different slots); overlapping
requests are forced with events in handlers, through a real threaded waitress server.
"""

import threading

import hug
import pytest
import requests
from support.commands import Commands
from support.session_app import READ, READ_TOUCHING, issued_id, set_cookies, signed_in_api

from hug_store_redis import RedisSessionMiddleware, RedisStore
from hug_store_redis.sessions import BOUND_KEY
from hug_store_redis.transport import COMPARE_AND_SET, READ_AND_TOUCH


@pytest.fixture(params=["server", "cluster"])
def client(request):
    return request.getfixturevalue("redis_client" if request.param == "server" else "cluster_client")


@pytest.fixture
def middleware(client):
    return RedisSessionMiddleware(RedisStore(client, expiration=100), cookie_secure=False)


class Gate:
    """Holds a handler between its read and its return until the test opens it."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()

    def hold(self):
        self.entered.set()
        assert self.release.wait(10)


@pytest.fixture
def gate():
    return Gate()


@pytest.fixture
def api(middleware, gate):
    api = hug.API(f"devices_{id(middleware)}")
    api.http.add_middleware(middleware)

    @hug.get("/login", api=api)
    def login(request, user: hug.types.text):
        middleware.regenerate(request)
        middleware.bind_user(request, user)
        request.context["session"]["user"] = user
        return "ok"

    @hug.get("/bind_only", api=api)
    def bind_only(request, user: hug.types.text):
        handle = middleware.bind_user(request, user, ip="192.0.2.7")
        request.context["session"]["user"] = user
        return handle

    @hug.get("/whoami", api=api)
    def whoami(request):
        return request.context["session"].get("user")

    @hug.get("/devices", api=api)
    def devices(request):
        user = request.context["session"]["user"]
        return [
            {"handle": entry.handle, "ua": entry.user_agent, "current": entry.current}
            for entry in middleware.user_sessions(user, current=request)
        ]

    @hug.get("/sign_out_others", api=api)
    def sign_out_others(request):
        return middleware.destroy_user_sessions(request.context["session"]["user"], keep=request)

    @hug.get("/sign_out_device", api=api)
    def sign_out_device(request, handle: hug.types.text):
        return middleware.destroy_user_session(request.context["session"]["user"], handle)

    @hug.get("/regenerate", api=api)
    def regenerate(request):
        middleware.regenerate(request)
        return "ok"

    @hug.get("/logout", api=api)
    def logout(request):
        middleware.destroy(request)
        return "ok"

    @hug.get("/slow_read", api=api)
    def slow_read(request):
        gate.hold()
        return request.context["session"].get("user")

    @hug.get("/slow_add", api=api)
    def slow_add(request):
        gate.hold()
        request.context["session"].setdefault("cart", []).append("book")
        return "ok"

    return api


def get(api, path, sid=None, agent="test-agent", **params):
    headers = {"User-Agent": agent}
    if sid is not None:
        headers["Cookie"] = f"sid={sid}"
    return hug.test.get(api, path, headers=headers, **params)


def login(api, user, agent="test-agent"):
    return issued_id(get(api, "/login", agent=agent, user=user))


def test_devices_are_listed_with_handles_and_the_current_one_marked(api, middleware):
    laptop = login(api, "ann", agent="Firefox on a laptop")
    phone = login(api, "ann", agent="Safari on a phone")
    login(api, "bob")
    listed = get(api, "/devices", laptop).data
    assert sorted(entry["ua"] for entry in listed) == ["Firefox on a laptop", "Safari on a phone"]
    assert [entry["ua"] for entry in listed if entry["current"]] == ["Firefox on a laptop"]
    assert not any(sid in entry["handle"] for entry in listed for sid in (laptop, phone))


def test_bind_without_regenerate_on_a_new_visitor_issues_the_id_it_indexes(api, middleware):
    response = get(api, "/bind_only", user="ann")
    sid = issued_id(response)
    (entry,) = middleware.user_sessions("ann")
    assert entry.handle == response.data and entry.ip == "192.0.2.7" and entry.user_agent == "test-agent"
    assert middleware.destroy_user_sessions("ann") == 1 and not middleware.store.exists(sid)


def test_signing_out_the_other_devices_ends_their_sessions(api, middleware, client):
    laptop = login(api, "ann")
    phone = login(api, "ann")
    tablet = login(api, "ann")
    assert get(api, "/sign_out_others", laptop).data == 2
    for ended in (phone, tablet):
        response = get(api, "/whoami", ended)
        assert response.data is None and set_cookies(response)  # the cookie is cleared
        assert not middleware.store.exists(ended)
    assert get(api, "/whoami", laptop).data == "ann"
    assert len(get(api, "/devices", laptop).data) == 1


def test_signing_out_one_device_by_its_handle(api, middleware):
    laptop = login(api, "ann")
    phone = login(api, "ann")
    (other,) = [entry["handle"] for entry in get(api, "/devices", laptop).data if not entry["current"]]
    assert get(api, "/sign_out_device", laptop, handle=other).data is True
    assert get(api, "/sign_out_device", laptop, handle=other).data is False
    assert get(api, "/whoami", phone).data is None
    assert get(api, "/whoami", laptop).data == "ann"


def test_a_request_on_a_bound_session_costs_no_extra_round_trip(api, middleware, client):
    laptop = login(api, "ann")
    for script in (READ_AND_TOUCH, COMPARE_AND_SET):  # loaded, so no first NOSCRIPT is counted
        client.script_load(script.text)
    counted = {*READ, "pexpire", "eval", "getex", "hset", "expire", "hgetall", "exists"}
    commands = Commands(client, only=counted)
    assert get(api, "/whoami", laptop).data == "ann"
    assert commands.delta() == READ  # the one read every request makes
    middleware.user_index.seen_every = 0.0
    commands = Commands(client, only=counted)
    get(api, "/whoami", laptop)
    assert commands.delta() == READ  # no touch due: last seen waits for one
    client.pexpire(middleware.store.namespaced_key(laptop), 10_000)  # the lazy touch is due
    commands = Commands(client, only=counted)
    get(api, "/whoami", laptop)
    assert commands.delta() == {**READ_TOUCHING, "hset": 1, "expire": 1}  # last seen rides on it


def test_regenerate_keeps_one_entry_naming_the_new_id(api, middleware, client):
    old = login(api, "ann")
    handle = middleware.store.decode(middleware.store.read_payload(old), old)[BOUND_KEY]["handle"]
    new = issued_id(get(api, "/regenerate", old))
    assert not middleware.store.exists(old) and middleware.store.exists(new)
    assert [entry["handle"] for entry in get(api, "/devices", new).data] == [handle]
    assert middleware.destroy_user_sessions("ann") == 1
    assert not middleware.store.exists(new)


def test_logout_removes_the_entry(api, middleware, client):
    laptop = login(api, "ann")
    phone = login(api, "ann")
    get(api, "/logout", phone)
    assert [entry["current"] for entry in get(api, "/devices", laptop).data] == [True]
    assert len(client.hgetall(middleware.user_index.index_key("ann"))) == 2


def test_a_session_bound_again_to_another_user_leaves_the_first_users_list(api, middleware):
    sid = login(api, "ann")
    other = login(api, "ann")
    sid = issued_id(get(api, "/login", sid, user="bob"))
    assert len(get(api, "/devices", other).data) == 1
    assert middleware.destroy_user_sessions("ann", keep=None) == 1
    assert get(api, "/whoami", sid).data == "bob"


def overlapping(base, path, sid):
    """Start a request that holds in its handler; its thread, and a box for (status, JSON body)."""
    box = []

    def send():
        with requests.Session() as browser:  # nothing left open at teardown
            response = browser.get(base + path, headers={"Cookie": f"sid={sid}"}, timeout=20)
            box.append((response.status_code, response.json()))

    thread = threading.Thread(target=send)
    thread.start()
    return thread, box


def test_a_request_running_during_sign_out_everywhere_cannot_use_the_session_after(api, serve, gate):
    base = serve(api, threads=4)
    laptop = login(api, "ann")
    phone = login(api, "ann")
    thread, box = overlapping(base, "/slow_read", phone)
    assert gate.entered.wait(10)
    assert get(api, "/sign_out_others", laptop).data == 1
    gate.release.set()
    thread.join(20)
    assert box == [(200, "ann")]  # it had read the session before the sign-out
    assert get(api, "/whoami", phone).data is None


def test_a_request_writing_during_sign_out_everywhere_does_not_bring_the_session_back(
    api, serve, gate, middleware
):
    base = serve(api, threads=4)
    laptop = login(api, "ann")
    phone = login(api, "ann")
    thread, box = overlapping(base, "/slow_add", phone)
    assert gate.entered.wait(10)
    assert get(api, "/sign_out_others", laptop).data == 1
    gate.release.set()
    thread.join(20)
    assert box == [(200, "ok")]
    assert not middleware.store.exists(phone)
    assert get(api, "/whoami", phone).data is None


@pytest.mark.one_twin
def test_the_index_outlives_a_session_that_writes_keep_alive(redis_client, store_path):
    """Expiration 4 s, ``touch_after=2``, one modifying request a second for 10 s (real time).

    Each compare-and-set write restarts the session's expiry, so no read is ever touched:
    the index must follow the writes, or "sign out everywhere" misses a live session.
    """
    store = RedisStore(redis_client, expiration=4)
    middleware = RedisSessionMiddleware(store, touch_after=2, cookie_secure=False)
    api = signed_in_api(middleware)

    response = get(api, "/login")
    sid, handle = issued_id(response), response.data
    index_key, session_key = middleware.user_index.index_key("ann"), store.namespaced_key(sid)
    for round_ in range(1, 11):
        threading.Event().wait(1)
        assert get(api, "/add", sid).data == round_
        assert redis_client.pttl(index_key) >= redis_client.pttl(session_key) > 0
    assert store.exists(sid)
    assert [entry.handle for entry in middleware.user_sessions("ann")] == [handle]
    assert middleware.destroy_user_sessions("ann") == 1
    assert not store.exists(sid)
