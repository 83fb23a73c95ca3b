"""RedisSessionMiddleware through hug.test, with Redis commands counted on the real server."""

import datetime
import http.cookiejar
import json
import logging
import socket
import urllib.request
import uuid

import falcon
import falcon.testing
import hug
import pytest
import redis
from hug.middleware import SessionMiddleware
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.commands import Commands
from support.server_kinds import selected_server
from support.servers import HOST, free_port
from support.session_app import (
    CAS_WRITE,
    CREATE,
    DELETE,
    READ,
    READ_MISSING,
    READ_TOUCHING,
    call,
    commands_of,
    issued_id,
    make_api,
    set_cookies,
)

from hug_store_redis import RedisStore
from hug_store_redis.cli.embedded import EmbeddedRedis
from hug_store_redis.sessions import RedisSessionMiddleware, is_session_id

FLAGS = "Path=/; Secure; HttpOnly; SameSite=Lax"
EXPIRED = "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; " + FLAGS


@pytest.fixture
def middleware(store):
    return RedisSessionMiddleware(store)


@pytest.fixture
def api(middleware):
    return make_api(middleware)


@pytest.fixture
def session_id(api, redis_client):
    """An existing session holding {"counter": 1}."""
    response = call(api, "/write")
    return issued_id(response)


def test_cookieless_request_with_empty_session_costs_nothing(api, redis_client):
    commands = Commands(redis_client)
    response = call(api, "/read")
    assert response.data == {}
    assert commands.delta() == {}
    assert set_cookies(response) == []
    assert redis_client.dbsize() == 0


def test_new_session_is_one_write_and_a_secure_cookie(api, redis_client):
    commands = Commands(redis_client)
    response = call(api, "/write")
    assert commands.delta() == {"set": 1}
    (cookie,) = set_cookies(response)
    sid = issued_id(response)
    assert cookie == f"sid={sid}; {FLAGS}"
    assert is_session_id(sid) and len(sid) == 43
    assert json.loads(redis_client.get(f"store:{sid}")) == {"counter": 1}
    assert 86000 < redis_client.ttl(f"store:{sid}") <= 86400


def test_read_only_request_is_one_round_trip_that_slides_a_due_expiry(api, redis_client, session_id):
    redis_client.expire(f"store:{session_id}", 100)
    commands = Commands(redis_client)
    response = call(api, "/read", session_id)
    assert response.data == {"counter": 1}
    assert commands.delta() == READ_TOUCHING
    assert set_cookies(response) == []
    assert redis_client.ttl(f"store:{session_id}") > 86000


def test_modified_request_is_read_plus_one_set(api, redis_client, session_id):
    commands = Commands(redis_client)
    response = call(api, "/write", session_id)
    assert response.data == 2
    assert commands.delta() == commands_of(READ, CAS_WRITE)
    assert set_cookies(response) == []
    assert json.loads(redis_client.get(f"store:{session_id}")) == {"counter": 2}


def test_counter_survives_across_requests(api, session_id):
    assert [call(api, "/write", session_id).data for _ in range(3)] == [2, 3, 4]


def test_read_only_detection_works_with_decode_responses_clients(redis_server, redis_client):
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    api = make_api(RedisSessionMiddleware(RedisStore(client)))
    sid = issued_id(call(api, "/write"))
    commands = Commands(redis_client)
    assert call(api, "/read", sid).data == {"counter": 1}
    assert commands.delta() == READ
    client.close()


MALFORMED = {
    "empty": "",
    "short": "foobar",
    "uuid4": str(uuid.UUID(int=7)),
    "one too long": "a" * 44,
    "one too short": "a" * 42,
    "bad charset": "a" * 42 + "!",
    "8 KB of junk": "j" * 8192,
}


@pytest.mark.parametrize("cookie", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_cookie_never_reaches_redis_and_is_cleared(api, redis_client, cookie):
    commands = Commands(redis_client)
    response = call(api, "/read", cookie)
    assert response.data == {}
    assert commands.delta() == {}
    assert set_cookies(response) == [EXPIRED]
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize("cookie", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_cookie_is_replaced_by_a_fresh_id_when_the_session_is_saved(api, redis_client, cookie):
    commands = Commands(redis_client)
    response = call(api, "/write", cookie)
    assert commands.delta() == {"set": 1}
    sid = issued_id(response)
    assert sid != cookie and is_session_id(sid)
    assert redis_client.keys() == [f"store:{sid}".encode()]


def test_unknown_well_formed_id_is_never_adopted(api, redis_client):
    planted = "A" * 43
    commands = Commands(redis_client)
    response = call(api, "/write", planted)
    assert commands.delta() == commands_of(READ_MISSING, CREATE)
    sid = issued_id(response)
    assert sid != planted
    assert redis_client.exists(f"store:{planted}") == 0
    assert json.loads(redis_client.get(f"store:{sid}")) == {"counter": 1}


def test_unknown_id_with_empty_session_writes_nothing_and_clears_the_cookie(api, redis_client):
    response = call(api, "/read", "B" * 43)
    assert set_cookies(response) == [EXPIRED]
    assert redis_client.dbsize() == 0


def test_regenerate_keeps_data_under_a_new_id_and_deletes_the_old_key(api, redis_client, session_id):
    commands = Commands(redis_client)
    response = call(api, "/login", session_id)
    assert commands.delta() == commands_of(READ, CREATE, DELETE)
    new_id = issued_id(response)
    assert new_id != session_id and is_session_id(new_id)
    assert redis_client.exists(f"store:{session_id}") == 0
    assert call(api, "/read", new_id).data == {"counter": 1, "user": "ann"}


def test_regenerate_on_a_new_session_just_issues_an_id(api, redis_client):
    commands = Commands(redis_client)
    sid = issued_id(call(api, "/login"))
    assert commands.delta() == {"set": 1}
    assert json.loads(redis_client.get(f"store:{sid}")) == {"user": "ann"}


def test_destroy_deletes_the_key_and_expires_the_cookie(api, redis_client, session_id):
    commands = Commands(redis_client)
    response = call(api, "/logout", session_id)
    assert commands.delta() == commands_of(READ, DELETE)
    assert set_cookies(response) == [EXPIRED]
    assert redis_client.dbsize() == 0
    assert call(api, "/read", session_id).data == {}


def test_data_stored_after_destroy_starts_a_new_session(api, redis_client, session_id):
    response = call(api, "/farewell", session_id)
    new_id = issued_id(response)
    assert new_id != session_id
    assert redis_client.keys() == [f"store:{new_id}".encode()]
    assert call(api, "/read", new_id).data == {"flash": "bye"}


@pytest.mark.parametrize("on_error", ["raise", "degrade"])
def test_other_redis_errors_always_raise(store, redis_client, on_error):
    api = make_api(RedisSessionMiddleware(store, on_error=on_error))
    sid = "H" * 43
    redis_client.rpush(f"store:{sid}", "not a string")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        call(api, "/read", sid)
    assert redis_client.lrange(f"store:{sid}", 0, -1) == [b"not a string"]


def test_regenerate_without_the_middleware_is_a_clear_error(store):
    api = hug.API(f"test_middleware_{uuid.uuid4().hex}")
    sessions = RedisSessionMiddleware(store)
    hug.get("/login", api=api)(lambda request: sessions.regenerate(request))
    with pytest.raises(RuntimeError, match="did not see this request"):
        hug.test.get(api, "/login")


@pytest.mark.parametrize("garbage", [b"\xff not json", b"[1, 2]", b"null"], ids=["bytes", "list", "null"])
def test_corrupt_session_starts_a_new_one_with_a_warning(api, redis_client, caplog, garbage):
    corrupt = "C" * 43
    redis_client.set(f"store:{corrupt}", garbage, ex=100)
    with caplog.at_level(logging.WARNING, logger="hug_store_redis.middleware"):
        response = call(api, "/write", corrupt)
    assert response.status == "200 OK"
    assert response.data == 1
    assert "starting a new session" in caplog.text
    assert corrupt not in caplog.text  # ids are credentials: only a prefix is logged
    sid = issued_id(response)
    assert sid != corrupt
    assert redis_client.keys() == [f"store:{sid}".encode()]


def test_corrupt_session_left_empty_is_deleted_and_the_cookie_cleared(api, redis_client):
    corrupt = "D" * 43
    redis_client.set(f"store:{corrupt}", b"{broken", ex=100)
    response = call(api, "/read", corrupt)
    assert response.status == "200 OK"
    assert set_cookies(response) == [EXPIRED]
    assert redis_client.dbsize() == 0


def test_oversize_new_session_is_not_written_and_logged(store, redis_client, caplog):
    api = make_api(RedisSessionMiddleware(store, max_session_bytes=100))
    with caplog.at_level(logging.ERROR, logger="hug_store_redis.middleware"):
        response = call(api, "/fill", size=200)
    assert response.status == "200 OK"
    assert "over max_session_bytes=100" in caplog.text
    assert set_cookies(response) == []
    assert redis_client.dbsize() == 0


def test_sessions_are_limited_to_one_mib_by_default(store, redis_client, caplog):
    """A session that grows without bound (a log appended to on every request) is refused
    and logged, not stored silently; ``max_session_bytes=None`` lifts the limit."""
    api = make_api(RedisSessionMiddleware(store))
    with caplog.at_level(logging.ERROR, logger="hug_store_redis.middleware"):
        response = call(api, "/fill", size=1 << 20)
    assert response.status == "200 OK"
    assert f"over max_session_bytes={1 << 20}" in caplog.text
    assert set_cookies(response) == [] and redis_client.dbsize() == 0
    sid = issued_id(call(api, "/fill", size=1_000_000))  # under the limit: stored
    assert len(redis_client.get(f"store:{sid}")) > 1_000_000
    unlimited = make_api(RedisSessionMiddleware(store, max_session_bytes=None))
    sid = issued_id(call(unlimited, "/fill", size=2 << 20))
    assert len(redis_client.get(f"store:{sid}")) > 2 << 20


def test_oversize_update_keeps_the_previous_session(store, redis_client, caplog):
    api = make_api(RedisSessionMiddleware(store, max_session_bytes=100))
    sid = issued_id(call(api, "/fill", size=10))
    before = redis_client.get(f"store:{sid}")
    commands = Commands(redis_client)
    with caplog.at_level(logging.ERROR, logger="hug_store_redis.middleware"):
        call(api, "/fill", sid, size=100)
    assert commands.delta() == READ
    assert "not saved" in caplog.text
    assert redis_client.get(f"store:{sid}") == before
    assert call(api, "/fill", sid, size=80).status == "200 OK"  # 92 bytes: under the limit
    assert len(redis_client.get(f"store:{sid}")) == 92


def test_cookie_options_as_in_hug(store):
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    sessions = RedisSessionMiddleware(
        store,
        context_name="visit",
        cookie_name="visit_id",
        cookie_expires=expires,
        cookie_max_age=3600,
        cookie_domain="example.org",
        cookie_path="/app",
        cookie_secure=False,
        cookie_http_only=False,
        cookie_same_site="Strict",
    )
    api = make_api(sessions)
    response = call(api, "/write")
    sid = issued_id(response)
    assert set_cookies(response) == [
        f"visit_id={sid}; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Max-Age=3600; "
        "Domain=example.org; Path=/app; SameSite=Strict"
    ]
    # With a max-age the browser's expiry slides like Redis's: read-only requests resend it.
    again = call(api, "/read", sid, cookie_name="visit_id")
    assert again.data == {"counter": 1}
    assert set_cookies(again) == set_cookies(response)


def test_same_site_can_be_left_out(store):
    api = make_api(RedisSessionMiddleware(store, cookie_same_site=None, cookie_path=None))
    response = call(api, "/write")
    assert set_cookies(response) == [f"sid={issued_id(response)}; Secure; HttpOnly"]


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"cookie_same_site": "lax"}, "cookie_same_site"),
        ({"cookie_same_site": "None", "cookie_secure": False}, "SameSite=None without Secure"),
        ({"on_error": "ignore"}, "on_error"),
        ({"max_session_bytes": 0}, "max_session_bytes"),
        ({"cookie_name": "s id;"}, "cookie_name"),
    ],
)
def test_bad_options_fail_at_start_up(store, redis_client, keywords, message):
    commands = Commands(redis_client)
    with pytest.raises(ValueError, match=message):
        RedisSessionMiddleware(store, **keywords)
    assert commands.delta() == {}


# Redis unreachable


def _closed_port_store():
    client = redis.Redis(host=HOST, port=free_port(), socket_timeout=1, socket_connect_timeout=1)
    return RedisStore(client)


@pytest.mark.one_twin
def test_unreachable_redis_raises_by_default():
    api = make_api(RedisSessionMiddleware(_closed_port_store()))
    with pytest.raises(redis.exceptions.ConnectionError):
        call(api, "/read", "E" * 43)


@pytest.mark.one_twin
def test_degrade_serves_an_empty_session_after_the_server_stops(caplog):
    with EmbeddedRedis(executable=selected_server().executable) as server:
        client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
        api = make_api(RedisSessionMiddleware(RedisStore(client), on_error="degrade"))
        sid = issued_id(call(api, "/write"))
        assert call(api, "/read", sid).data == {"counter": 1}
    with caplog.at_level(logging.WARNING, logger="hug_store_redis.middleware"):
        read = call(api, "/read", sid)
        write = call(api, "/write", sid)
        new = call(api, "/write")
    assert (read.status, read.data) == ("200 OK", {})
    assert (write.status, write.data) == ("200 OK", 1)
    assert new.status == "200 OK"
    assert [set_cookies(r) for r in (read, write, new)] == [[], [], []]
    assert caplog.text.count("session store unreachable") == 3


@pytest.mark.one_twin
def test_degrade_on_a_closed_port():
    api = make_api(RedisSessionMiddleware(_closed_port_store(), on_error="degrade"))
    assert call(api, "/read", "F" * 43).data == {}
    assert call(api, "/read").data == {}


# hug's stock middleware keeps working with RedisStore


def test_stock_session_middleware_counts_across_requests_and_replaces_unknown_ids(store, redis_client):
    api = make_api(SessionMiddleware(store, cookie_secure=False), handlers=("write",))
    first = call(api, "/write")
    sid = issued_id(first)
    assert first.data == 1
    assert call(api, "/write", sid).data == 2
    assert call(api, "/write", sid).data == 3
    replaced = call(api, "/write", "foobar")
    assert issued_id(replaced) != "foobar"
    assert replaced.data == 1


def test_stock_session_middleware_costs_four_commands_and_stores_empty_visits(store, redis_client):
    api = make_api(SessionMiddleware(store), handlers=("read",))
    commands = Commands(redis_client)
    sid = issued_id(call(api, "/read"))
    assert commands.delta() == {"set": 1}
    assert redis_client.get(f"store:{sid}") == b"{}"
    commands = Commands(redis_client)
    call(api, "/read", sid)
    assert commands.delta() == {"exists": 2, "get": 1, "set": 1}


# Through a real HTTP server and a client that keeps cookies


def browser():
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def get(url):
        with opener.open(url, timeout=10) as response:
            return json.loads(response.read())

    return jar, get


@pytest.mark.one_twin
def test_real_http_client_keeps_its_session_through_login_and_logout(store, redis_client, serve):
    base = serve(make_api(RedisSessionMiddleware(store, cookie_secure=False)))
    jar, get = browser()
    assert get(f"{base}/read") == {}
    assert len(jar) == 0
    assert [get(f"{base}/write") for _ in range(3)] == [1, 2, 3]
    (cookie,) = jar
    before_login = cookie.value
    assert cookie.path == "/" and cookie.has_nonstandard_attr("HttpOnly")
    commands = Commands(redis_client)
    assert get(f"{base}/read") == {"counter": 3}
    assert commands.delta() == READ
    assert get(f"{base}/login") == "ok"
    (cookie,) = jar
    assert cookie.value != before_login
    assert redis_client.exists(f"store:{before_login}") == 0
    assert get(f"{base}/read") == {"counter": 3, "user": "ann"}
    assert get(f"{base}/logout") == "ok"
    assert len(jar) == 0
    assert get(f"{base}/read") == {}
    assert redis_client.dbsize() == 0


@pytest.mark.one_twin
def test_secure_cookie_is_not_sent_back_over_plain_http(store, serve):
    """Why the demo, on plain HTTP, turns Secure off: a real client drops Secure cookies there."""
    base = serve(make_api(RedisSessionMiddleware(store)))
    jar, get = browser()
    assert get(f"{base}/write") == 1
    assert [cookie.secure for cookie in jar] == [True]
    assert get(f"{base}/write") == 1


@pytest.mark.one_twin
def test_degrade_after_a_socket_timeout_on_a_server_that_never_answers(caplog):
    """A peer that accepts the connection but never replies: the client's socket_timeout bounds the wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = redis.Redis(
            host="127.0.0.1",
            port=silent.getsockname()[1],
            socket_timeout=0.2,
            socket_connect_timeout=0.2,
            retry=Retry(NoBackoff(), 0),
        )
        api = make_api(RedisSessionMiddleware(RedisStore(client), on_error="degrade"))
        with caplog.at_level(logging.WARNING, logger="hug_store_redis.middleware"):
            response = call(api, "/read", "G" * 43)
        strict = make_api(RedisSessionMiddleware(RedisStore(client)))
        with pytest.raises(redis.exceptions.TimeoutError):
            call(strict, "/read", "G" * 43)
    assert (response.status, response.data) == ("200 OK", {})
    assert "session store unreachable" in caplog.text and "Timeout" in caplog.text


class DictContextRequest(falcon.Request):
    """An app whose request context is a plain dict (falcon's ``context_type``)."""

    context_type = dict


@pytest.mark.parametrize("request_type", [falcon.Request, DictContextRequest])
def test_session_lives_in_any_request_context_type(middleware, store, session_id, request_type):
    """falcon's own Context is reached through its ``__dict__``; any other context by item access."""

    def request_with(change):
        request = request_type(falcon.testing.create_environ(headers={"Cookie": f"sid={session_id}"}))
        response = falcon.Response()
        middleware.process_request(request, response)
        change(request.context["session"])
        middleware.process_response(request, response, None, True)
        return request.context

    context = request_with(lambda session: None)
    assert type(context) is (dict if request_type is DictContextRequest else falcon.Request.context_type)
    assert context["session"] == {"counter": 1}
    request_with(lambda session: session.update(cart=[1]))
    request_with(lambda session: session["cart"].append(2))
    assert store.get(session_id) == {"counter": 1, "cart": [1, 2]}
