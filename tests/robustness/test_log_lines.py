"""Every log line names the namespace it is about (``[namespace] ...``) and at most 8 characters
of a session id: each line the package logs about a store or a session, made to happen for real."""

import json
import logging
import re
import time
import uuid

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.driven import DrivenRequest
from support.servers import wait_for
from support.session_app import call, make_api
from support.store_cache import GENEROUS, listeners_of, wait_cached

from hug_store_redis import RedisSessionMiddleware, RedisStore
from hug_store_redis.sessions import new_session_id
from hug_store_redis.sessions.session_write import create

SID = new_session_id()
SERVER_WIDE = {"hug_store_redis", "hug_store_redis.sentinel_follow"}
"""Loggers whose lines are about a server, not a store: they name the server (docs/logging.md)."""


@pytest.fixture
def namespace() -> str:
    return f"logged-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.DEBUG, logger="hug_store_redis")
    return caplog


def lines_of(logged, *expected):
    """The package's log lines about stores and sessions; each expected fragment in one of them."""
    lines = [
        record.getMessage()
        for record in logged.records
        if record.name.startswith("hug_store_redis") and record.name not in SERVER_WIDE
    ]
    for fragment in expected:
        assert any(fragment in line for line in lines), (fragment, lines)
    return lines


def assert_named(lines, namespace):
    """Each line opens with its namespaces in brackets: one, or every one a shared listener
    serves (stores of other tests may share it)."""
    assert lines
    for line in lines:
        named = re.match(r"\[([^\]]*)\] ", line)
        assert named and namespace in named.group(1).split(","), line
        assert not any(SID[start : start + 9] in line for start in range(len(SID) - 8)), line


def test_the_middleware_names_the_namespace(redis_client, namespace, logged):
    store = RedisStore(redis_client, namespace)
    api = make_api(RedisSessionMiddleware(store, max_session_bytes=64))
    redis_client.set(f"{namespace}:{SID}", b"not JSON")
    call(api, "/read", SID)  # corrupt: a new session
    call(api, "/fill", size=100)  # over max_session_bytes
    store.set(SID, {"n": 0})
    request = DrivenRequest(RedisSessionMiddleware(store), SID)
    request.read()
    store.delete(SID)
    request.session["n"] = 1
    request.write()  # gone while the request ran
    assert_named(
        lines_of(logged, "starting a new session", "over max_session_bytes", "was deleted while"), namespace
    )


def test_an_unreachable_store_is_named(namespace, logged):
    client = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    api = make_api(RedisSessionMiddleware(RedisStore(client, namespace), on_error="degrade"))
    call(api, "/write", SID)
    assert_named(lines_of(logged, "unreachable, serving an empty session"), namespace)


def test_the_write_path_names_the_namespace(redis_client, namespace, logged):
    store = RedisStore(redis_client, namespace)
    store.set(SID, {"n": 0})

    def relentless(base, mine, theirs):  # another writer before each retry, leaving no session
        calls.append(theirs)
        redis_client.set(f"{namespace}:{SID}", json.dumps([len(calls)]))
        return {**theirs, **mine}

    calls = []
    request = DrivenRequest(RedisSessionMiddleware(store, merge=relentless), SID)
    request.read()
    redis_client.set(f"{namespace}:{SID}", json.dumps({"n": "other"}))
    request.session["mine"] = 1
    request.write()
    assert create(store, SID, b"{}", None) != SID  # the id is taken: another is drawn
    redis_client.set(f"{namespace}:{SID}", b'{"a": NaN}')  # as hug_store_redis 1.0.0 wrote it
    store.set(SID, store.get(SID))
    assert_named(
        lines_of(logged, "still conflicting", "concurrent value unreadable", "already taken", "NaN"),
        namespace,
    )


def test_the_local_cache_and_its_listener_name_the_namespace(redis_server, redis_client, namespace, logged):
    with RedisStore(redis_client, namespace, local_cache=True) as store:
        store.set(SID, {"v": 1})
        wait_cached(store, SID)
        (listener,) = listeners_of(store)
        sessions = listener.sessions
        redis_client.client_kill_filter(_id=listener.client_id)
        wait_for("a new tracking connection", lambda: listener.sessions > sessions, GENEROUS)
    decoding = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    decoding.set(f"{namespace}:{SID}", b"\xff not UTF-8", ex=100)
    with RedisStore(decoding, namespace, local_cache=True) as store:
        store._cached._touch(SID, 200_000)  # a background touch that fails
    decoding.close()
    assert_named(
        lines_of(logged, "local cache serving", "invalidations lost", "background touch of"), namespace
    )


def test_the_lifetimes_lines_name_the_namespace(redis_client, namespace, logged):
    store = RedisStore(redis_client, namespace)
    ended = json.dumps({"hug_store_redis.issued": 1, "n": 0})  # issued in 1970
    redis_client.set(f"{namespace}:{SID}", ended)
    call(make_api(RedisSessionMiddleware(store, max_lifetime=600)), "/read", SID)
    redis_client.set(f"{namespace}:{SID}", json.dumps({"hug_store_redis.issued": 10**9 * 3, "n": 0}))
    call(make_api(RedisSessionMiddleware(store, max_lifetime=600)), "/read", SID)  # in the future
    issued = int(time.time())
    redis_client.set(f"{namespace}:{SID}", json.dumps({"hug_store_redis.issued": issued, "n": 0}))
    request = DrivenRequest(RedisSessionMiddleware(store, max_lifetime=2, touch_after=1), SID)
    request.read()["n"] = 1
    while time.time() < issued + 1.05:  # under a second left: over, as writes count whole seconds
        time.sleep(0.05)
    request.write()
    assert not redis_client.exists(f"{namespace}:{SID}")
    assert_named(
        lines_of(
            logged,
            "reached max_lifetime: starting a new session",
            "in the future",
            "reached max_lifetime: this request's changes are dropped",
        ),
        namespace,
    )
