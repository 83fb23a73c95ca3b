"""The per-user session index on a real server and on a Cluster (index and sessions in other slots)."""

import time

import pytest
import redis
import redis.retry
from redis.backoff import NoBackoff
from support.commands import record_client_calls
from support.scripts_refused import refusing_server

from hug_store_redis import RedisStore
from hug_store_redis.errors import NotReplicatedError
from hug_store_redis.sessions import UserSessionIndex
from hug_store_redis.sessions import user_sessions as module

EXPIRATION = 100


@pytest.fixture(params=["server", "decoded", "cluster"])
def client(request):
    if request.param == "decoded":  # replies as str (decode_responses=True)
        server = request.getfixturevalue("redis_server")
        request.getfixturevalue("redis_client")  # flushed before and after
        decoded = redis.Redis(host=server.host, port=server.port, decode_responses=True)
        request.addfinalizer(decoded.close)
        return decoded
    return request.getfixturevalue("redis_client" if request.param == "server" else "cluster_client")


@pytest.fixture
def store(client):
    return RedisStore(client, expiration=EXPIRATION)


@pytest.fixture
def index(store):
    return UserSessionIndex(store)


def login(store, index, user, session_id, **kwargs):
    """As the middleware does it: index entry first, the session key at the end of the request."""
    handle = index.add(user, session_id, **kwargs)
    assert store.create(session_id, store.encode({"user": user}))
    return handle


def test_lists_a_users_sessions_with_handles_not_ids(store, index):
    first = login(store, index, "alice", "sid-1", user_agent="Firefox " + "x" * 500, ip="192.0.2.1")
    second = login(store, index, "alice", "sid-2", user_agent="Chromium")
    login(store, index, "bob", "sid-3")
    listed = index.sessions("alice", current_session_id="sid-2")
    assert {entry.handle for entry in listed} == {first, second}
    assert all("sid-" not in entry.handle for entry in listed)
    by_handle = {entry.handle: entry for entry in listed}
    assert by_handle[second].current and not by_handle[first].current
    assert by_handle[first].user_agent == ("Firefox " + "x" * 500)[: module.USER_AGENT_CHARS]
    assert by_handle[first].ip == "192.0.2.1" and by_handle[second].ip is None
    assert by_handle[first].created <= by_handle[second].created
    assert [entry.handle for entry in index.sessions("bob")] != []


def test_end_all_deletes_every_session_and_keeps_the_current_one_on_request(store, client, index):
    for number in range(4):
        login(store, index, "alice", f"sid-{number}")
    login(store, index, "bob", "sid-bob")
    assert index.end_all("alice", keep_session_id="sid-0") == 3
    assert store.exists("sid-0") and not any(store.exists(f"sid-{n}") for n in (1, 2, 3))
    assert [entry.current for entry in index.sessions("alice", "sid-0")] == [True]
    assert index.end_all("alice") == 1
    assert index.sessions("alice") == [] and not store.exists("sid-0")
    assert store.exists("sid-bob")


def test_an_ended_session_is_never_written_back(store, index):
    login(store, index, "alice", "sid-1")
    payload = store.read_payload("sid-1")  # a request on that device read its session
    index.end_all("alice")
    assert store.compare_and_set("sid-1", payload, store.encode({"user": "alice", "cart": [1]})).gone
    assert not store.exists("sid-1")


def test_end_one_by_handle(store, index):
    keep = login(store, index, "alice", "sid-1")
    drop = login(store, index, "alice", "sid-2")
    assert index.end_one("alice", drop) is True
    assert index.end_one("alice", drop) is False
    assert index.end_one("alice", "no-such-handle") is False
    assert not store.exists("sid-2") and store.exists("sid-1")
    assert [entry.handle for entry in index.sessions("alice")] == [keep]


def test_entries_of_expired_or_deleted_sessions_are_pruned_when_read(store, client, index, monkeypatch):
    login(store, index, "alice", "sid-1")
    login(store, index, "alice", "sid-2")
    store.delete("sid-1")  # expired, or logged out by a process that crashed before the index
    monkeypatch.setattr(module, "PENDING_GRACE", 0.0)
    assert len(index.sessions("alice")) == 1
    assert len(client.hgetall(index.index_key("alice"))) == 2  # one e: and one s: field left


def test_an_entry_waiting_for_its_session_key_is_not_pruned(store, index):
    """bind runs before the request writes the session: a listing in between must keep it."""
    index.add("alice", "sid-pending")
    assert len(index.sessions("alice")) == 1
    assert index.end_all("alice") == 0  # nothing to delete yet: the login is still running ...
    assert store.create("sid-pending", b"{}")  # ... and writes its key after the sign-out
    assert len(index.sessions("alice")) == 1  # still listed, so the next sign-out reaches it
    assert index.end_all("alice") == 1 and index.sessions("alice") == []


def test_bounded_per_user_oldest_ended_first(store):
    index = UserSessionIndex(store, max_sessions=3)
    for number in range(5):
        login(store, index, "alice", f"sid-{number}")
    assert [store.exists(f"sid-{n}") for n in range(5)] == [False, False, True, True, True]
    assert len(index.sessions("alice")) == 3


def test_last_seen_updates_at_most_once_per_interval(store, client, index):
    handle = login(store, index, "alice", "sid-1")
    field = b"s:" + handle.encode()
    client.hset(index.index_key("alice"), field, 1.0)
    index.note_seen("alice", handle, "sid-1")  # bound just now in this process: not due
    assert float(client.hget(index.index_key("alice"), field)) == 1.0
    index.seen_every = 0.0
    index.note_seen("alice", handle, "sid-1")
    assert float(client.hget(index.index_key("alice"), field)) > time.time() - 60


@pytest.mark.one_twin
def test_last_seen_comes_at_least_every_half_expiry(redis_client):
    """The index lives 2 x expiry from each refresh: refreshed every <= expiry / 2, it outlives
    every expiry a write or touch in between restarts (expiry 4 s: a 60 s throttle would not)."""
    assert UserSessionIndex(RedisStore(redis_client, expiration=4)).seen_every == 2
    assert UserSessionIndex(RedisStore(redis_client, expiration=1000)).seen_every == module.SEEN_EVERY
    assert UserSessionIndex(RedisStore(redis_client, expiration=None)).seen_every == module.SEEN_EVERY


@pytest.mark.one_twin
def test_a_last_seen_update_that_fails_is_tried_again_by_the_next_request(own_server):
    client = redis.Redis(port=own_server.port, socket_timeout=2, retry=redis.retry.Retry(NoBackoff(), 0))
    index = UserSessionIndex(RedisStore(client, expiration=EXPIRATION))
    handle = index.add("alice", "sid-1")
    index.seen_every = 0.5
    index.note_seen("alice", handle, "sid-0")  # due: written, and remembered
    assert not index.seen_due("sid-0")
    own_server.stop()
    with pytest.raises(redis.ConnectionError):
        index.note_seen("alice", handle, "sid-2")
    assert index.seen_due("sid-2")  # not remembered: the index's expiry was not refreshed
    client.close()


@pytest.mark.parametrize("write", ["add", "rotate", "note_seen", "forget", "remove"])
def test_every_index_write_waits_for_the_replicas(redis_client, write):
    """Under ``wait_replicas`` an index write counts once replicas hold it, like a session write:
    an entry a failover loses is a session "sign out everywhere" cannot reach."""
    handle = UserSessionIndex(RedisStore(redis_client, expiration=EXPIRATION)).add("alice", "sid-1")
    store = RedisStore(redis_client, expiration=EXPIRATION, wait_replicas=1, wait_timeout_ms=20)
    index = UserSessionIndex(store)
    writes = {
        "add": lambda: index.add("alice", "sid-2"),
        "rotate": lambda: index.rotate("alice", handle, "sid-3", "sid-1"),
        "note_seen": lambda: index.note_seen("alice", handle, "sid-1"),
        "forget": lambda: index.forget("alice", "sid-1"),
        "remove": lambda: index.remove("alice", handle),
    }
    with pytest.raises(NotReplicatedError, match="0 of 1 replicas"):
        writes[write]()
    assert store.stats()["errors"] == 1


def test_a_failed_index_write_counts_as_an_error(own_server):
    client = redis.Redis(port=own_server.port, socket_timeout=2, retry=redis.retry.Retry(NoBackoff(), 0))
    store = RedisStore(client, expiration=EXPIRATION)
    index = UserSessionIndex(store)
    handle = index.add("alice", "sid-1")
    own_server.stop()
    for write in (
        lambda: index.add("alice", "sid-2"),
        lambda: index.note_seen("alice", handle, "sid-3"),
        lambda: index.remove("alice", handle),
    ):
        with pytest.raises(redis.ConnectionError):
            write()
    assert store.stats()["errors"] == 3
    client.close()


def test_index_writes_go_through_the_transport(redis_client, store_path, monkeypatch):
    """On the fast path they are framed commands on its own connections, not the client's."""
    index = UserSessionIndex(RedisStore(redis_client, expiration=EXPIRATION))
    handle = index.add("alice", "sid-1")
    sent = record_client_calls(redis_client, monkeypatch)
    index.note_seen("alice", handle, "sid-2")
    index.remove("alice", handle)
    assert sent == ([] if store_path == "fast" else ["pipeline", "HDEL"])
    assert redis_client.hlen(index.index_key("alice")) == 0


def test_index_keys_are_not_sessions_of_any_namespace(client):
    """count/ids/clear scan ``namespace:*``; an index key holds no ``:`` at all."""
    stores = [RedisStore(client, namespace=name) for name in ("store", "a:b", "hug_store_redis-users|store|")]
    for number, store in enumerate(stores):
        UserSessionIndex(store).add("user:1|%", f"sid-{number}")
        store.set(f"sid-{number}", {})
    assert [store.count() for store in stores] == [1, 1, 1]
    assert [list(store.ids()) for store in stores] == [["sid-0"], ["sid-1"], ["sid-2"]]
    keys = {UserSessionIndex(store).index_key("user:1|%") for store in stores}
    assert len(keys) == 3 and not any(b":" in key for key in keys)
    assert stores[0].clear() == 1
    assert all(client.exists(key) for key in keys)


def test_the_index_expires_after_its_sessions(store, client, index):
    login(store, index, "alice", "sid-1")
    assert EXPIRATION < client.ttl(index.index_key("alice")) <= 2 * EXPIRATION


def test_bad_user_ids_are_refused_before_redis(index):
    for bad in ("", None, 3):
        with pytest.raises(ValueError, match="user_id"):
            index.index_key(bad)


def test_a_rotation_that_never_finished_is_still_ended(store, index):
    """regenerate repoints the entry before the new key exists; a crash leaves the old key listed."""
    handle = login(store, index, "alice", "sid-old")
    assert index.rotate("alice", handle, "sid-new", "sid-old") == handle  # then the process died
    assert [entry.handle for entry in index.sessions("alice")] == [handle]
    assert index.end_all("alice") == 0  # "sid-new" was never written ...
    assert not store.exists("sid-old")  # ... and the old key, still live, is ended too


def test_a_rotation_of_an_ended_entry_indexes_the_new_key_again(store, client, index):
    handle = login(store, index, "alice", "sid-old")
    index.end_all("alice")  # "sign out everywhere" between the request's read and its regenerate
    index.rotate("alice", handle, "sid-new", "sid-old")
    assert store.create("sid-new", b"{}")  # login's rotation creates the new key whatever happened
    assert index.end_all("alice") == 1 and not store.exists("sid-new")


def test_an_entry_repointed_while_it_was_being_pruned_or_ended_is_kept(store, index, monkeypatch):
    """A listing or a sign-out works from the entries it read; a regenerate in between wins."""
    handle = login(store, index, "alice", "sid-old")
    stale = index._entries(index.index_key("alice"))
    store.delete("sid-old")
    index.rotate("alice", handle, "sid-new", "sid-old")  # the request's regenerate
    assert store.create("sid-new", b"{}")
    monkeypatch.setattr(module, "PENDING_GRACE", 0.0)
    monkeypatch.setattr(index, "_entries", lambda key: stale)  # as read before the rotation
    assert index.sessions("alice") == []  # the stale view is dead, and pruning it ...
    assert index.end_all("alice") == 0
    monkeypatch.undo()
    assert [entry.handle for entry in index.sessions("alice")] == [handle]  # ... left the new entry
    assert index.end_all("alice") == 1 and not store.exists("sid-new")


@pytest.mark.one_twin
@pytest.mark.parametrize("how", ["renamed", "acl"])
def test_servers_refusing_scripts_still_prune_and_end(tmp_path, store_path, how, monkeypatch):
    server, client = refusing_server(tmp_path, how)
    try:
        store = RedisStore(client, expiration=EXPIRATION)
        index = UserSessionIndex(store)
        login(store, index, "alice", "sid-1")
        login(store, index, "alice", "sid-2")
        store.delete("sid-1")
        monkeypatch.setattr(module, "PENDING_GRACE", 0.0)
        assert len(index.sessions("alice")) == 1  # pruned with a plain HDEL
        assert index.end_all("alice") == 1 and client.hlen(index.index_key("alice")) == 0
        client.close()
    finally:
        server.stop()


@pytest.mark.parametrize("client", ["server", "cluster"], indirect=True)
def test_a_session_still_under_the_older_key_secret_stays_listed_and_is_ended(client, monkeypatch):
    """Before redis_keys the index looked under the newest secret only: a live session not yet
    moved was pruned as dead, and "sign out everywhere" left it signed in."""
    old, new = b"o" * 32, b"n" * 32
    before = RedisStore(client, expiration=EXPIRATION, key_secrets=[old])
    login(before, UserSessionIndex(before), "alice", "sid-1")
    after = RedisStore(client, expiration=EXPIRATION, key_secrets=[new, old])
    index = UserSessionIndex(after)
    monkeypatch.setattr(module, "PENDING_GRACE", 0)  # an entry without its key is dead at once
    assert len(index.sessions("alice")) == 1
    assert index.end_all("alice") == 1
    assert not after.exists("sid-1") and not before.exists("sid-1")
