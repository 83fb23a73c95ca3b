"""Sessions 1.0.0 wrote with NaN or Infinity (json.dumps writes them): never a 500.

The store reads them leniently; nothing may fail because they cannot be written back as
strict JSON. A read-only request writes nothing; a modified session is written with null
in their place and a warning; a handler that puts NaN into a clean session still gets the
ValueError that says so.
"""

import json
import logging
import math
import urllib.error
import urllib.request

import hug
import pytest
from hug.middleware import SessionMiddleware
from support.commands import Commands
from support.legacy_release import load_legacy_module
from support.session_app import READ, call, commands_of, issued_id, make_api, set_cookies

from hug_store_redis.sessions import RedisSessionMiddleware, new_session_id

LEGACY = {"counter": 1, "score": math.nan, "max": math.inf, "min": -math.inf}
CLEANED = {"counter": 2, "score": None, "max": None, "min": None}


@pytest.fixture
def legacy_session(redis_client):
    """A session id whose value 1.0.0 wrote: NaN, Infinity and -Infinity, as json.dumps writes them."""
    sid = new_session_id()
    load_legacy_module().RedisStore(redis_client).set(sid, LEGACY)
    assert b"NaN" in redis_client.get(f"store:{sid}")
    return sid


def assert_legacy_values(data):
    assert data["counter"] == 1 and math.isnan(data["score"])
    assert data["max"] == math.inf and data["min"] == -math.inf


def test_read_only_request_reads_the_values_and_writes_nothing(store, redis_client, legacy_session):
    api = make_api(RedisSessionMiddleware(store))
    before = redis_client.get(f"store:{legacy_session}")
    commands = Commands(redis_client)
    for _ in range(2):
        response = call(api, "/read", legacy_session)
        assert response.status == "200 OK"
        assert_legacy_values(response.data)
        assert set_cookies(response) == []
    assert commands.delta() == commands_of(READ, READ)
    assert redis_client.get(f"store:{legacy_session}") == before


def test_modified_session_is_written_with_null_in_their_place(store, redis_client, legacy_session, caplog):
    api = make_api(RedisSessionMiddleware(store))
    with caplog.at_level(logging.WARNING, logger="hug_store_redis"):
        response = call(api, "/write", legacy_session)
    assert (response.status, response.data) == ("200 OK", 2)
    assert set_cookies(response) == []
    assert json.loads(redis_client.get(f"store:{legacy_session}")) == CLEANED
    assert "NaN or Infinity" in caplog.text and "written as null" in caplog.text
    assert legacy_session not in caplog.text  # ids are credentials: only a prefix is logged
    assert call(api, "/write", legacy_session).data == 3


def test_login_on_such_a_session_moves_the_cleaned_data_to_the_new_id(store, redis_client, legacy_session):
    api = make_api(RedisSessionMiddleware(store))
    new_id = issued_id(call(api, "/login", legacy_session))
    assert redis_client.exists(f"store:{legacy_session}") == 0
    assert json.loads(redis_client.get(f"store:{new_id}")) == {**CLEANED, "counter": 1, "user": "ann"}


def test_nan_put_into_a_clean_session_by_a_handler_is_still_an_error(store, redis_client):
    api = make_api(RedisSessionMiddleware(store))
    sid = issued_id(call(api, "/write"))

    @hug.get("/poison", api=api)
    def poison(request):
        request.context["session"]["score"] = math.nan

    with pytest.raises(ValueError, match="NaN"):
        call(api, "/poison", sid)
    assert json.loads(redis_client.get(f"store:{sid}")) == {"counter": 1}


@pytest.mark.parametrize("path", ["/read", "/write"])
def test_hug_stock_middleware_rewrites_such_a_session_with_null(
    store, redis_client, legacy_session, caplog, path
):
    """hug's middleware writes the session back on every request: there, even a read rewrites it."""
    api = make_api(SessionMiddleware(store), handlers=("read", "write"))
    with caplog.at_level(logging.WARNING, logger="hug_store_redis"):
        response = call(api, path, legacy_session)
    assert response.status == "200 OK"
    if path == "/read":
        assert_legacy_values(response.data)  # what the handler saw is what 1.0.0 stored
    expected = CLEANED if path == "/write" else {**CLEANED, "counter": 1}
    assert json.loads(redis_client.get(f"store:{legacy_session}")) == expected
    assert "written as null" in caplog.text
    assert call(api, "/write", legacy_session).data == expected["counter"] + 1


@pytest.mark.one_twin
@pytest.mark.parametrize("middleware", ["ours", "stock"])
def test_through_a_real_server_every_request_succeeds(store, redis_client, legacy_session, serve, middleware):
    sessions = RedisSessionMiddleware(store) if middleware == "ours" else SessionMiddleware(store)
    base = serve(make_api(sessions, handlers=("read", "write")))

    def get(path):
        request = urllib.request.Request(base + path, headers={"Cookie": f"sid={legacy_session}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    for _ in range(3):
        status, data = get("/read")
        assert status == 200, data
        assert data["counter"] == 1
    assert get("/write") == (200, 2)
    assert get("/write") == (200, 3)
    assert json.loads(redis_client.get(f"store:{legacy_session}")) == {**CLEANED, "counter": 3}
