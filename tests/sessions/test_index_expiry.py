"""The per-user index's entries end with their sessions where the server has hash-field expiry.

Each test runs on three real servers started here, whatever ``--server`` says: Debian's
redis-server (7.0 here: no HEXPIRE, so the pruning of before), valkey-server 8.1 (the same)
and valkey-server 9.1 (HEXPIRE: each entry expires with its session). Overlaps are forced with
events in handlers, through a real threaded (waitress) server.
"""

import logging
import tempfile
import threading

import hug
import pytest
import redis
import requests
from support.commands import Commands
from support.server_kinds import SERVER_KINDS
from support.servers import RedisServer, wait_for
from support.session_app import READ, issued_id

from hug_store_redis import RedisSessionMiddleware, RedisStore
from hug_store_redis.sessions import UserSessionIndex, user_sessions
from hug_store_redis.sessions.index_expiry import SLACK_S
from hug_store_redis.transport import COMPARE_AND_SET, READ_AND_TOUCH
from hug_store_redis.transport.capabilities import capabilities_of
from hug_store_redis.transport.scripts import entry_fields

EXPIRATION = 2  # seconds: short, so sessions end within the test


@pytest.fixture(scope="module", params=["redis", "valkey", "valkey9"])
def kind_server(request):
    directory = tempfile.mkdtemp(prefix=f"hug-store-redis-index-{request.param}-")
    server = RedisServer(directory, executable=SERVER_KINDS[request.param].executable).start()
    yield request.param, server
    server.stop()


@pytest.fixture
def client(kind_server):
    _, server = kind_server
    client = redis.Redis(host=server.host, port=server.port, socket_timeout=5)
    client.flushall()
    for script in (READ_AND_TOUCH, COMPARE_AND_SET):  # loaded: no first NOSCRIPT in the counts
        client.script_load(script.text)
    yield client
    client.close()


@pytest.fixture
def fields_expire(kind_server, client):
    """Whether this server expires hash fields, asserted per leg (``SERVER_KINDS``: Redis 7.0
    and Valkey 8.1 do not, Valkey 9.1 does) and against its version, so the valkey9 leg surely
    runs the new path and the others surely the old one."""
    expected = SERVER_KINDS[kind_server[0]].capabilities.hash_field_expiry
    info = client.info("server")
    if "valkey_version" in info:
        by_version = tuple(map(int, str(info["valkey_version"]).split(".")[:2])) >= (9, 0)
    else:
        by_version = tuple(map(int, str(info["redis_version"]).split(".")[:2])) >= (7, 4)
    assert by_version is expected, f"{kind_server[0]} {info.get('valkey_version') or info['redis_version']}"
    assert capabilities_of(client).hash_field_expiry is expected
    return expected


def hpttl(client, key, field):
    """The field's remaining life in ms (-1: no expiry, -2: no field)."""
    return int(client.execute_command("HPTTL", key, "FIELDS", 1, field)[0])


def entry_of(client, key, handle):
    """The raw e: field, read without the library (which would prune)."""
    return client.hget(key, entry_fields(handle)[0])


@pytest.mark.one_twin
def test_an_ended_session_leaves_the_index_by_itself(client, fields_expire, store_path, monkeypatch):
    store = RedisStore(client, expiration=EXPIRATION)
    index = UserSessionIndex(store)
    handle = index.add("ann", "sid-1")  # as the middleware logs in: the entry first, ...
    assert store.create("sid-1", b"{}")  # ... the key at the end of the request, ...
    index.note_seen("ann", handle, "sid-1")  # ... then the entry's expiry follows the key's
    key, (entry_field, seen_field) = index.index_key("ann"), entry_fields(handle)
    if fields_expire:
        session_ms = client.pttl(store.namespaced_key("sid-1"))
        for field in (entry_field, seen_field):
            # never before the session; at most SLACK_S after it (counted from the refresh,
            # sent after the session's write)
            assert session_ms <= hpttl(client, key, field) <= (EXPIRATION + SLACK_S) * 1000
    wait_for("the session to expire", lambda: not client.exists(store.namespaced_key("sid-1")))
    if fields_expire:  # nothing of the library runs from here on
        wait_for("the entry to expire", lambda: not client.exists(key))
    else:
        assert entry_of(client, key, handle) is not None  # kept until pruned ...
        monkeypatch.setattr(user_sessions, "PENDING_GRACE", 0.0)  # (past the login's grace)
        assert index.sessions("ann") == []  # ... which a read of the index does
        assert entry_of(client, key, handle) is None


@pytest.fixture
def app(client):
    store = RedisStore(client, expiration=EXPIRATION)
    middleware = RedisSessionMiddleware(store, touch_after=1, cookie_secure=False)
    api = hug.API(f"index_expiry_{id(middleware)}")
    api.http.add_middleware(middleware)
    gate = {"entered": threading.Event(), "release": threading.Event()}

    @hug.get("/login", api=api)
    def login(request, hold: hug.types.smart_boolean = False):
        middleware.regenerate(request)
        handle = middleware.bind_user(request, "ann")
        if hold:  # bound, the session key not written yet
            gate["entered"].set()
            assert gate["release"].wait(20)
        return handle

    @hug.get("/add", api=api)
    def add(request):
        session = request.context["session"]
        session["n"] = session.get("n", 0) + 1
        return session["n"]

    @hug.get("/read", api=api)
    def read(request):
        return request.context["session"].get("n")

    @hug.get("/logout", api=api)
    def logout(request):
        middleware.destroy(request)
        return "ok"

    return api, middleware, gate


def get(api, path, sid=None, **params):
    headers = {"Cookie": f"sid={sid}"} if sid else {}
    return hug.test.get(api, path, headers=headers, **params)


def assert_listed_while_alive(client, middleware, sid, handle, fields_expire):
    """The entry is in Redis (read raw, nothing pruned) and, where it expires, not before the session."""
    key = middleware.user_index.index_key("ann")
    assert entry_of(client, key, handle) is not None
    if fields_expire:
        session_ms = client.pttl(middleware.store.namespaced_key(sid))
        assert session_ms > 0
        assert hpttl(client, key, entry_fields(handle)[0]) >= session_ms


@pytest.mark.one_twin
@pytest.mark.parametrize("interval", [1.0, 0.6])
def test_a_session_written_every_second_never_leaves_the_index(
    client, fields_expire, app, store_path, monkeypatch, interval
):
    """Expiry 2 s, one modifying request every ``interval`` (real time): each write restarts the
    session's expiry, no read touches it; the entry must follow the writes (0.6 s: some writes
    come within a second of the last refresh, which they skip), and end with the session."""
    api, middleware, _ = app
    response = get(api, "/login")
    sid, handle = issued_id(response), response.data
    for round_ in range(1, int(5 / interval) + 1):
        threading.Event().wait(interval)
        assert get(api, "/add", sid).data == round_
        assert_listed_while_alive(client, middleware, sid, handle, fields_expire)
    assert [entry.handle for entry in middleware.user_sessions("ann")] == [handle]
    key = middleware.user_index.index_key("ann")
    wait_for("the session to expire", lambda: not middleware.store.exists(sid))
    if fields_expire:
        wait_for("the entry to expire with it", lambda: entry_of(client, key, handle) is None)
    if not fields_expire:  # pruned once the login's grace has passed
        monkeypatch.setattr(user_sessions, "PENDING_GRACE", 0.0)
    assert middleware.user_sessions("ann") == []


@pytest.mark.one_twin
def test_a_login_held_after_bind_keeps_its_entry_past_its_session(
    client, fields_expire, app, serve, store_path
):
    """bind writes the entry and the session key comes at the end of the request: held there
    longer than a session lives, the entry must still be there (it lasts as long as pruning
    waits for a pending key), and the write must bring its end to the session's."""
    api, middleware, gate = app
    base = serve(api, threads=2)
    box = []

    def log_in():
        with requests.Session() as browser:
            response = browser.get(base + "/login", params={"hold": "true"}, timeout=30)
            box.append((response.json(), response.cookies.get("sid")))

    thread = threading.Thread(target=log_in)
    thread.start()
    try:
        assert gate["entered"].wait(20)
        key = middleware.user_index.index_key("ann")
        (entry_field,) = [field for field in client.hkeys(key) if field.startswith(b"e:")]
        if fields_expire:  # held until a session written at bind would have ended
            pending_ms = (user_sessions.PENDING_GRACE + SLACK_S) * 1000
            assert pending_ms - 1000 < hpttl(client, key, entry_field) <= pending_ms
            wait_for(
                "a session's life to pass",
                lambda: hpttl(client, key, entry_field) < pending_ms - (EXPIRATION + SLACK_S) * 1000,
            )
    finally:
        gate["release"].set()
        thread.join(30)
    ((handle, sid),) = box
    assert_listed_while_alive(client, middleware, sid, handle, fields_expire)
    if fields_expire:  # and it ends a second after the session (counted from the refresh)
        assert hpttl(client, key, entry_field) <= (EXPIRATION + SLACK_S) * 1000


@pytest.mark.one_twin
def test_a_logout_overlapping_a_write_leaves_no_entry_behind(client, fields_expire, app, serve):
    """A write held after reading its session, a logout of that session meanwhile: the write
    finds the key gone, writes nothing, and the index keeps only the other device, whose fields
    (where they expire) all carry an expiry."""
    api, middleware, _ = app
    held = {"entered": threading.Event(), "release": threading.Event()}

    @hug.get("/slow_add", api=api)
    def slow_add(request):
        request.context["session"]["cart"] = ["book"]
        held["entered"].set()
        assert held["release"].wait(20)
        return "ok"

    base = serve(api, threads=4)
    phone_response = get(api, "/login")
    phone, phone_handle = issued_id(phone_response), phone_response.data
    laptop_response = get(api, "/login")
    laptop_handle = laptop_response.data
    box = []

    def add():
        with requests.Session() as browser:
            box.append(browser.get(base + "/slow_add", headers={"Cookie": f"sid={phone}"}, timeout=30).json())

    thread = threading.Thread(target=add)
    thread.start()
    try:
        assert held["entered"].wait(20)
        assert get(api, "/logout", phone).data == "ok"
    finally:
        held["release"].set()
        thread.join(30)
    assert box == ["ok"]
    assert not middleware.store.exists(phone)
    key = middleware.user_index.index_key("ann")
    assert entry_of(client, key, phone_handle) is None
    assert client.hget(key, entry_fields(phone_handle)[1]) is None
    assert [entry.handle for entry in middleware.user_sessions("ann")] == [laptop_handle]
    if fields_expire:
        assert all(hpttl(client, key, field) > 0 for field in client.hkeys(key))


@pytest.mark.one_twin
def test_a_read_only_request_stays_one_round_trip(client, fields_expire, app, store_path):
    """Refreshing entries costs nothing on reads that do not touch: the read, and no index command."""
    api, middleware, _ = app
    sid = issued_id(get(api, "/login"))
    middleware.user_index.seen_every = 0.0  # whatever is due waits for a touch or a write
    counted = {*READ, "pexpire", "hset", "expire", "hexpire", "hgetall", "exists"}
    client.pexpire(middleware.store.namespaced_key(sid), EXPIRATION * 1000)  # no touch due
    commands = Commands(client, only=counted)
    assert get(api, "/read", sid).data is None
    assert commands.delta() == READ
    commands = Commands(client, only=counted)
    assert get(api, "/add", sid).data == 1
    index_commands = {"hset": 1, "expire": 1, **({"hexpire": 1} if fields_expire else {})}
    assert {
        name: count for name, count in commands.delta().items() if name in index_commands
    } == index_commands


@pytest.mark.one_twin
def test_a_server_refusing_hexpire_falls_back_to_pruning(
    kind_server, client, fields_expire, store_path, caplog, monkeypatch
):
    """COMMAND INFO lists HEXPIRE, an ACL denies it: logins still work, entries are pruned as on
    older servers, and the log says so once, with the namespace."""
    if not fields_expire:
        pytest.skip("HEXPIRE exists to be refused only where the server has it (Valkey 9.1 here)")
    _, server = kind_server
    client.acl_setuser("app", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-hexpire"])
    app_client = redis.Redis(port=server.port, username="app", password="pw", socket_timeout=5)
    try:
        store = RedisStore(app_client, expiration=EXPIRATION, namespace="acl")
        index = UserSessionIndex(store)
        with caplog.at_level(logging.WARNING, logger="hug_store_redis.signed_in_devices"):
            handle = index.add("ann", "sid-1")
            assert store.create("sid-1", b"{}")
            index.note_seen("ann", handle, "sid-1")
            index.add("ann", "sid-never-written")
        key = index.index_key("ann")
        assert hpttl(client, key, entry_fields(handle)[0]) == -1  # no expiry of its own
        (record,) = caplog.records
        assert record.getMessage().startswith("[acl] the server refuses HEXPIRE")
        assert [entry.handle for entry in index.sessions("ann")][-1:] != []
        wait_for("the session to expire", lambda: not store.exists("sid-1"))
        monkeypatch.setattr(user_sessions, "PENDING_GRACE", 0.0)
        assert index.sessions("ann") == []  # pruned, as on servers without hash-field expiry
    finally:
        app_client.close()
        client.acl_deluser("app")
