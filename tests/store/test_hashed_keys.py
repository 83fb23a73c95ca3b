"""``RedisStore(key_secrets=...)``: Redis keys are HMACs of the ids, and rotating the secrets
logs nobody out, loses no update and brings no deleted session back.

Each test runs on both twins and both store paths; the rotation tests also with the local
cache on (``cached``). The Cluster leg is in tests/topology/test_hashed_keys_topologies.py.
"""

import base64
import hashlib
import hmac

import pytest
import redis
from hug.exceptions import StoreKeyNotFound
from support.forced_moves import LogoutBeforeCreate
from support.monitor import monitored
from support.store_cache import wait_cached, wait_value

from hug_store_redis import RedisStore
from hug_store_redis.sessions import new_session_id

OLD = b"o" * 32
NEW = b"n" * 32


def b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def handle(secret: bytes, session_id: str) -> str:
    """The spec: HMAC-SHA256 under the secret of the id's SHA-256, URL-safe base64 without padding."""
    hashed = hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()
    return b64(hmac.new(secret, hashed, hashlib.sha256).digest())


def redis_key(secret: bytes, session_id: str) -> bytes:
    return b"store:" + handle(secret, session_id).encode()


@pytest.fixture(params=["plain", "cached"])
def cached(request) -> bool:
    return request.param == "cached"


@pytest.fixture
def rotated(redis_client, cached):
    """``(before, after)``: a store on the old secret alone, and one rotated to ``[NEW, OLD]``."""
    before = RedisStore(redis_client, key_secrets=[OLD])
    after = RedisStore(redis_client, key_secrets=[NEW, OLD], local_cache=cached)
    yield before, after
    after.close()


@pytest.mark.parametrize(
    ("secrets", "error", "words"),
    [
        (b"x" * 32, TypeError, "wrap a single secret in a list"),
        ("x" * 32, TypeError, "wrap a single secret in a list"),
        ([], ValueError, "at least one secret"),
        (["x" * 32], TypeError, "key_secrets[0] must be bytes, not str"),
        ([b"x" * 32, b"short"], ValueError, "key_secrets[1] has 5 bytes; each needs at least 32"),
        ([b"x" * 32, b"x" * 32], ValueError, "key_secrets[1] repeats an earlier secret"),
    ],
)
def test_secrets_that_cannot_be_one_are_refused_with_what_to_do(redis_client, secrets, error, words):
    with pytest.raises(error) as raised:
        RedisStore(redis_client, key_secrets=secrets)
    assert words in str(raised.value)
    with pytest.raises(error):  # before any connection is made
        RedisStore.from_url("redis://127.0.0.1:1", key_secrets=secrets)


def test_no_key_value_or_command_holds_the_id(redis_client, redis_server):
    store = RedisStore(redis_client, key_secrets=[NEW])
    sid = new_session_id()
    with monitored(redis_client) as seen:
        store.set(sid, {"user": "ann"})
        assert store.get(sid) == {"user": "ann"}
        payload = store.read_payload_sliding(sid, 10).payload
        assert store.compare_and_set(sid, payload, store.encode({"user": "bob"})).written
        assert store.exists(sid) and store.touch(sid) and store.ttl(sid) > 0
    assert len(seen) >= 6
    assert not any(sid in line for line in seen)
    assert redis_client.keys("*") == [redis_key(NEW, sid)]
    assert sid.encode() not in redis_client.get(redis_key(NEW, sid))
    assert list(store.ids()) == [handle(NEW, sid)] and store.count() == 1
    assert store.namespaced_key(sid) == redis_key(NEW, sid)
    assert store.delete(sid) and redis_client.keys("*") == []


def test_without_secrets_the_key_is_the_id_as_in_1_0_0(redis_client):
    store = RedisStore(redis_client)
    store.set("abc", {"a": 1})
    assert redis_client.keys("*") == [b"store:abc"] and not store.hashed_keys


def test_a_session_under_the_old_secret_reads_through_the_rotated_store(rotated, redis_client):
    before, after = rotated
    sid = new_session_id()
    before.set(sid, {"n": 1})
    assert after.get(sid) == {"n": 1}
    assert after.read_payload_sliding(sid, 10).payload == redis_client.get(redis_key(OLD, sid))
    assert after.exists(sid) and after.ttl(sid) > 0
    assert redis_client.keys("*") == [redis_key(OLD, sid)]  # reads with no touch due move nothing
    assert after.touch(sid) and redis_client.keys("*") == [redis_key(NEW, sid)]  # a touch moves it
    with pytest.raises(StoreKeyNotFound):
        after.get(new_session_id())


def test_the_next_write_moves_the_session_to_the_newest_secret(rotated, redis_client):
    before, after = rotated
    sid = new_session_id()
    before.set(sid, {"n": 1})
    read = after.read_payload_sliding(sid, 10).payload
    assert after.compare_and_set(sid, read, after.encode({"n": 2})).written
    assert redis_client.keys("*") == [redis_key(NEW, sid)]
    assert redis_client.ttl(redis_key(NEW, sid)) > 86000
    assert after.get(sid) == {"n": 2}
    with pytest.raises(StoreKeyNotFound):  # the old fleet no longer finds it: rotate in two steps
        before.get(sid)


def test_set_writes_under_the_newest_and_drops_the_old_copy(rotated, redis_client):
    before, after = rotated
    sid = new_session_id()
    before.set(sid, {"n": 1})
    after.set(sid, {"n": 2})
    assert redis_client.keys("*") == [redis_key(NEW, sid)] and after.get(sid) == {"n": 2}


def test_a_move_over_a_changed_old_value_is_a_conflict_and_writes_nothing(rotated, redis_client):
    before, after = rotated
    sid = new_session_id()
    before.set(sid, {"n": 1})
    read = after.read_payload(sid)
    before.set(sid, {"n": 5})  # a process not rotated yet wrote meanwhile
    outcome = after.compare_and_set(sid, read, after.encode({"n": 2}))
    assert outcome.conflict and outcome.current == redis_client.get(redis_key(OLD, sid))
    assert redis_client.keys("*") == [redis_key(OLD, sid)]
    assert after.compare_and_set(sid, outcome.current, after.encode({"n": 6})).written
    assert redis_client.keys("*") == [redis_key(NEW, sid)] and after.get(sid) == {"n": 6}


def test_a_session_another_request_moved_first_is_a_conflict_with_its_value(rotated, redis_client):
    before, after = rotated
    sid = new_session_id()
    before.set(sid, {"n": 1})
    read = after.read_payload(sid)
    assert after.compare_and_set(sid, read, after.encode({"n": 2, "first": 1})).written
    outcome = after.compare_and_set(sid, read, after.encode({"n": 2, "second": 1}))
    assert outcome.conflict and after.decode(outcome.current, sid) == {"n": 2, "first": 1}


def test_a_delete_reaches_the_session_under_the_old_secret_only_if_unchanged(rotated, redis_client):
    before, after = rotated
    sid = new_session_id()
    before.set(sid, {"n": 1})
    read = after.read_payload(sid)
    assert after.compare_and_set(sid, b"[]", b"").conflict
    assert after.compare_and_set(sid, read, b"").written and redis_client.keys("*") == []
    assert after.compare_and_set(sid, read, b"").gone


def test_delete_removes_the_session_under_every_secret(rotated, redis_client):
    before, after = rotated
    sid = new_session_id()
    before.set(sid, {"n": 1})
    RedisStore(redis_client, key_secrets=[NEW]).set(sid, {"n": 2})  # both copies, as a mixed fleet can
    assert after.delete(sid) and redis_client.keys("*") == [] and not after.delete(sid)
    assert after.compare_and_set(sid, b"{}", b"{}").gone and redis_client.keys("*") == []


def test_a_logout_while_the_session_moves_stays_final(rotated, redis_client):
    """Without step 4 of key_moves.py the new key outlived the logout: the session came back."""
    before, after = rotated
    sid = new_session_id()
    before.set(sid, {"n": 1})
    read = after.read_payload(sid)
    after._transport = LogoutBeforeCreate(
        after._transport, redis_client, [redis_key(OLD, sid), redis_key(NEW, sid)]
    )
    assert after.compare_and_set(sid, read, after.encode({"n": 2})).gone
    assert redis_client.keys("*") == []


def test_the_local_cache_keeps_each_handle_apart(redis_client):
    before = RedisStore(redis_client, key_secrets=[OLD])
    with RedisStore(redis_client, key_secrets=[NEW, OLD], local_cache=True) as after:
        sid = new_session_id()
        before.set(sid, {"n": 1})
        wait_cached(after, sid)
        before.delete(sid)  # a logout elsewhere, under the old key: this cache must see it
        wait_value(after, sid, None)
        before.set(sid, {"n": 3})
        wait_cached(after, sid)
        read = after.read_payload(sid)
        assert after.compare_and_set(sid, read, after.encode({"n": 4})).written
        assert after.get(sid) == {"n": 4} and redis_client.keys("*") == [redis_key(NEW, sid)]


class MovedByAnotherAfterGone:
    """The store's transport, with another request moving the session right after this
    store's compare-and-set found no key under the newest secret."""

    def __init__(self, transport, move):
        self._transport, self._move = transport, move

    def compare_and_set(self, key, expected, payload, expire_s=None):
        reply = self._transport.compare_and_set(key, expected, payload, expire_s)
        if reply == 0 and self._move is not None:
            move, self._move = self._move, None
            move()
        return reply

    def __getattr__(self, name):
        return getattr(self._transport, name)


def test_a_session_moved_by_another_request_mid_write_is_a_conflict_not_gone(rotated, redis_client):
    """Without the last look at the new key this write was dropped as if logged out."""
    before, after = rotated
    other = RedisStore(redis_client, key_secrets=[NEW, OLD])
    sid = new_session_id()
    before.set(sid, {"n": 1})
    read = after.read_payload(sid)
    after._transport = MovedByAnotherAfterGone(
        after._transport, lambda: other.compare_and_set(sid, read, other.encode({"n": 1, "a": 1}))
    )
    outcome = after.compare_and_set(sid, read, after.encode({"n": 1, "b": 1}))
    assert outcome.conflict and after.decode(outcome.current, sid) == {"n": 1, "a": 1}
    assert redis_client.keys("*") == [redis_key(NEW, sid)]


class MovedAfterFirstRead:
    """The store's transport, with another request moving the session right after this
    store's first read found nothing under the newest secret."""

    def __init__(self, transport, move):
        self._transport, self._move = transport, move

    def read_sliding(self, key, touch_below_ms):
        reply = self._transport.read_sliding(key, touch_below_ms)
        if reply[0] is None and self._move is not None:
            move, self._move = self._move, None
            move()
        return reply

    def __getattr__(self, name):
        return getattr(self._transport, name)


def test_a_session_moved_between_the_reads_of_its_two_keys_is_still_found(redis_client):
    """Without the last read of the newest key the session was under neither: a forced logout."""
    before = RedisStore(redis_client, key_secrets=[OLD])
    after = RedisStore(redis_client, key_secrets=[NEW, OLD])
    other = RedisStore(redis_client, key_secrets=[NEW, OLD])
    sid = new_session_id()
    before.set(sid, {"n": 1})
    read = before.read_payload(sid)
    after._transport = MovedAfterFirstRead(
        after._transport, lambda: other.compare_and_set(sid, read, other.encode({"n": 2}))
    )
    payload = after.read_payload_sliding(sid, 10).payload
    assert payload is not None and after.decode(payload, sid) == {"n": 2}


@pytest.mark.parametrize("secret", [b"s" * 32, b"s" * 64, b"s" * 65, bytes(range(256)) * 2])
def test_the_handle_is_hmac_sha256_of_the_ids_sha256(redis_client, secret):
    store = RedisStore(redis_client, key_secrets=[secret])
    for sid in (new_session_id(), "", "ключ", "\udcff"):
        hashed = hashlib.sha256(sid.encode("utf-8", "surrogatepass")).digest()
        assert store.index_token(sid) == base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()
        digest = hmac.new(secret, hashed, hashlib.sha256).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=")
        assert store.namespaced_key(sid) == b"store:" + expected
    for call in (store.namespaced_key, store.index_token):
        with pytest.raises(TypeError, match="session key must be str, not bytes"):
            call(b"abc")


def test_remembered_handles_stay_right_past_the_bound(redis_client, monkeypatch):
    from hug_store_redis.store import hashed_keys

    monkeypatch.setattr(hashed_keys, "REMEMBERED", 2)
    store = RedisStore(redis_client, key_secrets=[NEW])
    ids = [new_session_id() for _ in range(5)]
    for _ in range(3):
        for sid in ids:
            assert store.namespaced_key(sid) == redis_key(NEW, sid)

    class Id(str):
        pass

    assert store.namespaced_key(Id(ids[0])) == redis_key(NEW, ids[0])


class ReleaseFails:
    """The store's transport, with the connection lost on a move's release of the old key
    (its conditional delete): the move leaves both copies, as a process dying there does."""

    def __init__(self, transport, old_key):
        self._transport, self._old_key = transport, old_key

    def compare_and_set(self, key, expected, payload, expire_s=None):
        if payload == b"" and key == self._old_key:
            raise redis.ConnectionError("lost on the release")
        return self._transport.compare_and_set(key, expected, payload, expire_s)

    def __getattr__(self, name):
        return getattr(self._transport, name)


def test_a_session_emptied_after_an_interrupted_move_stays_empty(rotated, redis_client):
    """Before the fix the conditional delete took only the newest copy: the next read found
    the older one and the cleared session came back."""
    before, after = rotated
    sid = new_session_id()
    before.set(sid, {"cart": ["book"]})
    read = after.read_payload(sid)
    real = after._transport
    after._transport = ReleaseFails(real, handle(OLD, sid))
    with pytest.raises(redis.ConnectionError):
        after.compare_and_set(sid, read, after.encode({"cart": ["book", "pen"]}))
    after._transport = real
    assert sorted(redis_client.keys("*")) == sorted([redis_key(NEW, sid), redis_key(OLD, sid)])
    current = after.read_payload(sid)
    assert after.decode(current, sid) == {"cart": ["book", "pen"]}
    assert after.compare_and_set(sid, current, b"").written  # session.clear()
    assert after.read_payload(sid) is None and redis_client.keys("*") == []
    assert after.compare_and_set(sid, current, b"").gone
