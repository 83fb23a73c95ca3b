"""RedisStore under hug's stock SessionMiddleware, driven through hug.test (hug's own session scenario)."""

import uuid
from http.cookies import SimpleCookie

import hug
import pytest
from hug.middleware import SessionMiddleware

from hug_store_redis import RedisStore


@pytest.fixture
def counting_api():
    api = hug.API(f"counting_{uuid.uuid4().hex}")

    @hug.get("/count", api=api)
    def count(request):
        session = request.context["session"]
        session["counter"] = session.get("counter", 0) + 1
        return session["counter"]

    return api


def cookies_of(response):
    return {morsel.key: morsel.value for morsel in SimpleCookie(response.headers_dict["set-cookie"]).values()}


def test_session_counts_across_requests(counting_api, redis_client):
    store = RedisStore(redis_client, namespace="hug")
    counting_api.http.add_middleware(SessionMiddleware(store, cookie_name="test-sid"))

    response = hug.test.get(counting_api, "/count")
    sid = cookies_of(response)["test-sid"]
    assert store.exists(sid)
    assert store.get(sid) == {"counter": 1}
    assert redis_client.get(f"hug:{sid}") == b'{"counter": 1}'

    headers = {"Cookie": f"test-sid={sid}"}
    assert hug.test.get(counting_api, "/count", headers=headers).data == 2
    assert hug.test.get(counting_api, "/count", headers=headers).data == 3
    assert store.get(sid) == {"counter": 3}


def test_unknown_cookie_gets_a_new_session(counting_api, redis_client):
    store = RedisStore(redis_client)
    counting_api.http.add_middleware(SessionMiddleware(store, cookie_name="test-sid"))
    response = hug.test.get(counting_api, "/count", headers={"Cookie": "test-sid=foobar"})
    new_sid = cookies_of(response)["test-sid"]
    assert new_sid != "foobar"
    assert store.get(new_sid) == {"counter": 1}
    assert not store.exists("foobar")


@pytest.mark.parametrize("cookie_value", ['""', "x" * 4096, "%00%ff", "a:b*?[]"])
def test_junk_cookies_never_fail_a_request(counting_api, redis_client, cookie_value):
    store = RedisStore(redis_client)
    counting_api.http.add_middleware(SessionMiddleware(store, cookie_name="sid"))
    response = hug.test.get(counting_api, "/count", headers={"Cookie": f"sid={cookie_value}"})
    assert response.status == "200 OK"
    assert response.data == 1
