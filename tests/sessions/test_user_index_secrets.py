"""The per-user index under ``key_secrets``: it holds tokens (SHA-256 of each id), never an
id, and still reaches every session under every secret, on a server and on a Cluster."""

import pytest
import ujson
from support.monitor import monitored

from hug_store_redis import RedisStore
from hug_store_redis.codec.wire import as_text
from hug_store_redis.sessions import UserSessionIndex, new_session_id
from hug_store_redis.sessions import user_sessions as module

EXPIRATION = 100
OLD, NEW = b"o" * 32, b"n" * 32


@pytest.fixture(params=["server", "cluster"])
def client(request):
    return request.getfixturevalue("redis_client" if request.param == "server" else "cluster_client")


def login(store, index, user, session_id):
    """As the middleware does it: index entry first, the session key at the end of the request."""
    handle = index.add(user, session_id, user_agent="Firefox")
    assert store.create(session_id, store.encode({"user": user}))
    return handle


def index_dump(client, index, user) -> list[str]:
    return [as_text(part) for item in client.hgetall(index.index_key(user)).items() for part in item]


def test_no_index_field_value_or_command_holds_an_id(redis_client):
    """Before the index stored tokens, every entry's JSON (and its HSET) carried the id."""
    store = RedisStore(redis_client, expiration=EXPIRATION, key_secrets=[NEW])
    index = UserSessionIndex(store)
    index.seen_every = 0  # every note_seen writes
    ids = [new_session_id() for _ in range(3)]
    with monitored(redis_client) as lines:
        handles = [login(store, index, "alice", sid) for sid in ids]
        renewed = new_session_id()  # regenerate at login: the entry names both until the old goes
        index.rotate("alice", handles[0], renewed, ids[0])
        dumps = [index_dump(redis_client, index, "alice")]
        assert store.create_replacing(renewed, store.encode({"user": "alice"}), ids[0])
        ids.append(renewed)
        index.note_seen("alice", handles[1], ids[1])
        listed = index.sessions("alice", current_session_id=ids[1])
        dumps.append(index_dump(redis_client, index, "alice"))
        assert index.end_one("alice", handles[2])
        assert index.end_all("alice", keep_session_id=ids[1]) == 1
        store.delete(ids[1])  # logout
        index.forget("alice", ids[1])
    assert {entry.handle for entry in listed} == set(handles)
    assert [entry.current for entry in listed if entry.handle == handles[1]] == [True]
    assert len(lines) > 10 and all(dumps)
    for sid in ids:
        assert not any(sid in line for line in lines), "an id in a command"
        assert not any(sid in part for dump in dumps for part in dump), "an id in the index"
        assert not any(sid in entry.handle for entry in listed)
    assert redis_client.keys("*") == []


def test_a_token_is_no_usable_id(redis_client):
    store = RedisStore(redis_client, expiration=EXPIRATION, key_secrets=[NEW])
    index = UserSessionIndex(store)
    sid = new_session_id()
    handle = login(store, index, "alice", sid)
    entry = ujson.loads(redis_client.hget(index.index_key("alice"), b"e:" + handle.encode()))
    assert entry["sid"] == store.index_token(sid) != sid
    assert store.read_payload(entry["sid"]) is None  # sent as a cookie, it opens nothing
    assert not store.exists(entry["sid"]) and store.exists(sid)


def test_sign_out_everywhere_ends_sessions_under_every_secret(client):
    """Sessions written before the rotation, one of them mid-regenerate, and one after."""
    before = RedisStore(client, expiration=EXPIRATION, key_secrets=[OLD])
    old_index = UserSessionIndex(before)
    first, unfinished, renewed = new_session_id(), new_session_id(), new_session_id()
    login(before, old_index, "alice", first)
    handle = login(before, old_index, "alice", unfinished)
    old_index.rotate("alice", handle, renewed, unfinished)  # its new key never written
    after = RedisStore(client, expiration=EXPIRATION, key_secrets=[NEW, OLD])
    index = UserSessionIndex(after)
    last = new_session_id()
    login(after, index, "alice", last)
    assert len(index.sessions("alice")) == 3
    assert index.end_all("alice") == 2  # and the unfinished rotation's old key, not counted
    for sid in (first, unfinished, last):
        assert not after.exists(sid) and not before.exists(sid)
    assert after.count() == 0


def test_pruning_drops_the_entries_of_ended_sessions_under_every_secret(client, monkeypatch):
    before = RedisStore(client, expiration=EXPIRATION, key_secrets=[OLD])
    gone, kept = new_session_id(), new_session_id()
    login(before, UserSessionIndex(before), "alice", gone)
    login(before, UserSessionIndex(before), "alice", kept)
    after = RedisStore(client, expiration=EXPIRATION, key_secrets=[NEW, OLD])
    index = UserSessionIndex(after)
    monkeypatch.setattr(module, "PENDING_GRACE", 0)  # an entry without its key is dead at once
    assert len(index.sessions("alice")) == 2  # neither moved yet: both live
    before.delete(gone)  # expired or logged out elsewhere
    assert len(index.sessions("alice")) == 1
    entries = [part for part in index_dump(client, index, "alice") if '"sid"' in part]
    assert [ujson.loads(entry)["sid"] for entry in entries] == [after.index_token(kept)]


@pytest.mark.parametrize("sid", ["not-a-token", "A" * 43, "é" * 43, 42])
def test_an_entry_naming_no_token_is_pruned_not_an_error(redis_client, monkeypatch, sid):
    """An entry this package did not write (or one from before key_secrets) names no session."""
    store = RedisStore(redis_client, expiration=EXPIRATION, key_secrets=[NEW])
    index = UserSessionIndex(store)
    entry = {"sid": sid, "created": 1.0, "bound": 1.0, "ua": "", "ip": None}
    redis_client.hset(index.index_key("alice"), b"e:h", ujson.encode(entry))
    live = new_session_id()
    login(store, index, "alice", live)
    monkeypatch.setattr(module, "PENDING_GRACE", 0)
    assert len(index.sessions("alice")) == 1
    assert index.end_all("alice") == 1 and store.count() == 0


def test_without_key_secrets_the_index_holds_ids_as_before(redis_client):
    """Byte for byte the entry the index wrote before tokens: ``sid`` and ``old`` are the ids."""
    store = RedisStore(redis_client, expiration=EXPIRATION)
    index = UserSessionIndex(store)
    sid, renewed = new_session_id(), new_session_id()
    handle = login(store, index, "alice", sid)
    index.rotate("alice", handle, renewed, sid)
    raw = redis_client.hget(index.index_key("alice"), b"e:" + handle.encode())
    entry = ujson.loads(raw)
    assert store.index_token(sid) == sid
    assert (entry["sid"], entry["old"]) == (renewed, sid)
    assert raw == ujson.encode(entry).encode()
