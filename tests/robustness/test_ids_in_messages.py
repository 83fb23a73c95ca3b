"""A session id is a credential: no error message or log line shows more than its first 8 characters."""

import logging
import pickle
import uuid

import pytest
import redis
from hug.exceptions import StoreKeyNotFound
from support.session_app import call, make_api

from hug_store_redis import CorruptSessionError, RedisStore
from hug_store_redis.errors import NotReplicatedError, short_id
from hug_store_redis.sessions import RedisSessionMiddleware, new_session_id

SID = new_session_id()


@pytest.fixture(autouse=True)
def on_each_twin_and_path(twin, store_path):
    """Asked for by name, so every store these tests build takes the twin and path in the test id."""


def shows_at_most_8(text: str, session_id: str = SID) -> bool:
    """No 9 consecutive characters of the id anywhere in ``text``."""
    return not any(session_id[start : start + 9] in text for start in range(len(session_id) - 8))


def test_short_id_keeps_8_characters_and_escapes_the_rest():
    assert short_id(SID) == SID[:8] + "..."
    assert short_id("abc") == "abc"
    assert short_id("12345678") == "12345678"
    assert short_id("a\nb\x00" + "x" * 40) == "a\\nb\\x00xxxx..."  # a cookie cannot forge log lines


def test_an_unreplicated_write_logs_8_characters_of_the_id(redis_client, caplog):
    """The reproduction: wait_replicas=1 and no replica, on_error="degrade", a modifying request."""
    RedisStore(redis_client).set(SID, {"counter": 1})
    store = RedisStore(redis_client, wait_replicas=1, wait_timeout_ms=20)
    api = make_api(RedisSessionMiddleware(store, on_error="degrade"))
    with caplog.at_level(logging.DEBUG):
        response = call(api, "/write", SID)
    assert response.status == "200 OK"
    assert "0 of 1 replicas" in caplog.text and f"session {SID[:8]}..." in caplog.text
    assert shows_at_most_8(caplog.text)


def test_exception_messages_show_8_characters():
    errors = [
        CorruptSessionError(SID, "invalid UTF-8 at byte 0"),
        NotReplicatedError(SID, 0, 1, 20),
    ]
    for error in errors:
        assert SID[:8] in str(error) and shows_at_most_8(str(error)) and shows_at_most_8(repr(error))
        assert error.key == SID  # the caller's own key stays on the exception, for its own code
        assert pickle.loads(pickle.dumps(error)).args == error.args


@pytest.mark.parametrize("decode_responses", [False, True])
def test_corrupt_data_names_8_characters(redis_server, decode_responses):
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=decode_responses)
    client.set(f"store:{SID}", b"\xff\xfe not UTF-8")
    store = RedisStore(client)
    with pytest.raises(CorruptSessionError) as caught:
        store.get(SID)
    assert shows_at_most_8(str(caught.value))
    client.delete(f"store:{SID}")
    client.close()


def test_a_missing_key_names_8_characters(store):
    for missing in (store.get, store.ttl):
        with pytest.raises(StoreKeyNotFound) as caught:
            missing(SID)
        assert str(caught.value) == f"{SID[:8]}..." and shows_at_most_8(repr(caught.value))


def test_a_failed_background_touch_logs_8_characters(redis_server, caplog):
    """The cache's background touch fails (a decoding client reading bytes that are not UTF-8)."""
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    namespace = f"ids-{uuid.uuid4().hex[:8]}"
    client.set(f"{namespace}:{SID}", b"\xff not UTF-8", ex=100)
    with (
        RedisStore(client, namespace, local_cache=True) as store,
        caplog.at_level(logging.DEBUG, logger="hug_store_redis"),
    ):
        store._cached._touch(SID, 200_000)
    client.delete(f"{namespace}:{SID}")
    client.close()
    assert "background touch" in caplog.text
    assert shows_at_most_8(caplog.text)
