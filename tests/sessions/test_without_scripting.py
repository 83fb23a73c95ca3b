"""Valkey 9.1 with scripting denied by ACL (``-@scripting``, as managed services do), whatever
``--server`` says: a session is read, written, logged in and out with native commands and
pipelines, with the commands a scripting server sends less the scripts, and never WATCH,
MULTI or EXEC. The integrity suites run whole on such a server in ``make test-valkey9``
(``--deny-scripting``); this module counts the commands of each step."""

import pytest
import redis
from support.commands import Commands
from support.server_kinds import DENY_SCRIPTING, valkey9_server_executable
from support.servers import RedisServer
from support.session_app import call, issued_id, make_api, set_cookies

from hug_store_redis import RedisStore
from hug_store_redis.sessions import RedisSessionMiddleware

SCRIPTED_OR_OPTIMISTIC = {"eval", "evalsha", "watch", "multi", "exec", "unwatch"}


@pytest.fixture
def denied(tmp_path):
    server = RedisServer(tmp_path, *DENY_SCRIPTING, executable=valkey9_server_executable()).start()
    client = redis.Redis(port=server.port, socket_timeout=5)
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.eval("return 1", 0)
    yield client
    client.close()
    server.stop()


def test_a_whole_session_life_without_scripts(denied, store_path):
    store = RedisStore(denied)
    api = make_api(RedisSessionMiddleware(store))
    sid = issued_id(call(api, "/write"))  # a new session: SET NX
    call(api, "/read", sid)  # the first read learns that scripts are refused, once per store

    steps = {}
    for step in ("read", "write", "login", "logout"):
        commands = Commands(denied)
        response = call(api, f"/{step}", sid)
        steps[step] = commands.delta()
        if step == "login":
            sid = issued_id(response)
    assert steps == {
        "read": {"get": 1, "pttl": 1},  # pipelined: one round trip; no touch due
        "write": {"get": 1, "pttl": 1, "set": 1},  # the read, then SET ... IFEQ ... GET
        "login": {"get": 1, "pttl": 1, "set": 1, "del": 1},  # SET NX of the new id, DEL of the old
        "logout": {"get": 1, "pttl": 1, "del": 1},
    }
    assert set_cookies(response)[0].startswith("sid=;") and denied.dbsize() == 0
    assert store.stats()["errors"] == 0


def test_overlapping_writes_merge_and_an_emptied_session_goes_only_if_unchanged(denied, store_path):
    """A conflict is SET ... IFEQ ... GET answering the other writer's value (merged and
    written in a second SET); an emptied session DELIFEQ with a GET, never WATCH."""
    store = RedisStore(denied)
    assert store.create("k", b'{"a": 1}')
    commands = Commands(denied)
    denied.set("store:k", b'{"a": 1, "b": 2}')  # another request wrote first
    conflict = store.compare_and_set("k", b'{"a": 1}', b'{"a": 3}')
    written = store.compare_and_set("k", conflict.current, b'{"a": 3, "b": 2}')
    gone_early = store.compare_and_set("k", b'{"a": 1}', b"")
    deleted = store.compare_and_set("k", b'{"a": 3, "b": 2}', b"")
    sent = commands.delta()
    assert conflict.current == b'{"a": 1, "b": 2}' and written.written
    assert gone_early.conflict and deleted.written and not denied.exists("store:k")
    assert sent == {"set": 3, "delifeq": 2, "get": 2} and not SCRIPTED_OR_OPTIMISTIC & set(sent)


def test_reads_write_nothing_until_a_touch_is_due(denied, store_path):
    store = RedisStore(denied, expiration=100)
    assert store.create("k", b"{}")
    store.read_payload_sliding("k", touch_after=50)  # learns that scripts are refused
    before = denied.info("persistence")["rdb_changes_since_last_save"]
    commands = Commands(denied)
    for _ in range(5):
        store.read_payload_sliding("k", touch_after=50)
    assert denied.info("persistence")["rdb_changes_since_last_save"] == before
    assert commands.delta() == {"get": 5, "pttl": 5}
    denied.expire("store:k", 10)  # 90 s since the last touch: one is due
    commands = Commands(denied)
    store.read_payload_sliding("k", touch_after=50)
    assert commands.delta() == {"get": 1, "pttl": 1, "pexpire": 1} and denied.ttl("store:k") > 90
