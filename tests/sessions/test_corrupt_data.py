"""Corrupt data under a well-formed id is no session, never a 500, whatever the client decodes.

A value that is not UTF-8 reaches a ``decode_responses=True`` client as a decoding error
inside redis-py rather than as bytes; the middleware must still treat it as a bytes client
does: an empty session, the key deleted (or replaced on a conflict), a warning naming 8
characters of the id.
"""

import json
import logging

import pytest
import redis
from support.driven import DrivenRequest
from support.session_app import call, issued_id, make_api, set_cookies

from hug_store_redis import RedisStore
from hug_store_redis.sessions import RedisSessionMiddleware, new_session_id
from hug_store_redis.sessions.session_write import Saved, save_existing

EXPIRED = "sid=; Max-Age=0"
NOT_UTF_8 = b"\xff\xfe not UTF-8"


@pytest.fixture(params=[False, True], ids=["bytes", "decoding"])
def client(request, redis_server, redis_client, twin, store_path):
    """A client of the test's server replying bytes, or str (``decode_responses=True``); every
    store built on it takes the test's twin and path (asked for here, so they apply)."""
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=request.param)
    yield client
    client.close()


@pytest.fixture
def corrupt(redis_client):
    sid = new_session_id()
    redis_client.set(f"store:{sid}", NOT_UTF_8, ex=100)
    return sid


def test_a_read_gets_an_empty_session_and_the_key_is_deleted(client, redis_client, corrupt, caplog):
    api = make_api(RedisSessionMiddleware(RedisStore(client)))
    with caplog.at_level(logging.WARNING, logger="hug_store_redis.middleware"):
        response = call(api, "/read", corrupt)
    assert response.status == "200 OK" and response.data == {}
    assert [cookie.split(";")[0] + ";" + cookie.split(";")[1] for cookie in set_cookies(response)] == [
        EXPIRED
    ]
    assert redis_client.dbsize() == 0
    assert f"session {corrupt[:8]}...: invalid UTF-8 at byte 0; starting a new session" in caplog.text
    assert corrupt[:9] not in caplog.text
    assert call(api, "/read").status == "200 OK"  # the client's connections are still in step


def test_a_write_starts_a_new_session_and_deletes_the_corrupt_key(client, redis_client, corrupt, caplog):
    api = make_api(RedisSessionMiddleware(RedisStore(client)))
    with caplog.at_level(logging.WARNING, logger="hug_store_redis.middleware"):
        response = call(api, "/write", corrupt)
    assert response.status == "200 OK" and response.data == 1
    sid = issued_id(response)
    assert sid != corrupt
    assert redis_client.keys() == [f"store:{sid}".encode()]
    assert "starting a new session" in caplog.text and corrupt[:9] not in caplog.text
    assert call(api, "/write", sid).data == 2


def test_a_conflict_with_a_corrupt_value_replaces_it(client, redis_client, caplog):
    """The request read a good session; another writer left bytes that are not UTF-8."""
    sid = new_session_id()
    redis_client.set(f"store:{sid}", b'{"n": 0, "keep": true}', ex=100)
    request = DrivenRequest(RedisSessionMiddleware(RedisStore(client)), sid)
    request.read()["n"] = 1
    redis_client.set(f"store:{sid}", NOT_UTF_8, ex=100)
    with caplog.at_level(logging.WARNING, logger="hug_store_redis.middleware"):
        request.write()
    assert json.loads(redis_client.get(f"store:{sid}")) == {"n": 1}  # its change over an empty session
    assert 0 < redis_client.ttl(f"store:{sid}") <= 86400
    assert request.set_cookies() == []  # the same session: its cookie stands
    assert f"session {sid[:8]}...: concurrent value unreadable (invalid UTF-8 at byte 0)" in caplog.text
    assert sid[:9] not in caplog.text


def test_a_corrupt_value_deleted_after_the_conflict_is_not_recreated(client, redis_client, monkeypatch):
    """Logout (or another request's discard) deletes the corrupt key before the merged write."""
    sid = new_session_id()
    redis_client.set(f"store:{sid}", b'{"n": 0}', ex=100)
    store = RedisStore(client)
    request = DrivenRequest(RedisSessionMiddleware(store), sid)
    request.read()["n"] = 1
    redis_client.set(f"store:{sid}", NOT_UTF_8, ex=100)
    real = store.compare_and_set

    def then_deleted(*args, **kwargs):
        outcome = real(*args, **kwargs)
        redis_client.delete(f"store:{sid}")
        return outcome

    monkeypatch.setattr(store, "compare_and_set", then_deleted)
    request.write()
    assert redis_client.exists(f"store:{sid}") == 0  # never recreated


def test_a_conflict_with_a_value_decoded_with_surrogates_is_replaced_not_raised(
    redis_server, redis_client, twin, store_path, caplog
):
    """A client decoding with ``encoding_errors="surrogatepass"`` reads bytes that are not UTF-8
    text (a lone surrogate's encoding) as a ``str`` holding a surrogate. The write path turns
    such a reply back into the exact bytes Redis holds, as the store's keys are encoded, so the
    conflict is resolved (the unreadable value replaced, with a warning), not a UnicodeEncodeError."""
    client = redis.Redis(
        host=redis_server.host, port=redis_server.port, decode_responses=True, encoding_errors="surrogatepass"
    )
    store = RedisStore(client)
    sid = new_session_id()
    store.set(sid, {"a": 1})
    read = store.read_payload(sid)
    redis_client.set(store.namespaced_key(sid), b"\xed\xb3\xbf")  # read back as "\udcff"
    mine = {"a": 2}
    with caplog.at_level(logging.WARNING, logger="hug_store_redis.middleware"):
        saved = save_existing(store, sid, read, mine, store.encode(mine))
    assert saved is Saved.WRITTEN
    assert redis_client.get(store.namespaced_key(sid)) == store.encode(mine)
    assert f"session {sid[:8]}...: concurrent value unreadable" in caplog.text
    client.close()
