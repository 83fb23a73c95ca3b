"""regenerate(): every id a session held during a request is gone from Redis after it."""

import json

import hug
from support.commands import Commands
from support.session_app import CREATE, DELETE, READ, call, commands_of, issued_id, make_api, set_cookies

from hug_store_redis.sessions import RedisSessionMiddleware


def twice_api(middleware):
    api = make_api(middleware, handlers=("read", "write"))

    def login_twice(request):
        middleware.regenerate(request)
        request.context["session"]["user"] = "ann"
        middleware.regenerate(request)  # e.g. a second privilege change in the same request
        request.context["session"]["role"] = "admin"
        return "ok"

    hug.get("/login-twice", api=api)(login_twice)
    return api


def test_regenerate_twice_deletes_the_pre_login_key(store, redis_client):
    api = twice_api(RedisSessionMiddleware(store))
    before_login = issued_id(call(api, "/write"))
    commands = Commands(redis_client)
    response = call(api, "/login-twice", before_login)
    assert commands.delta() == commands_of(READ, CREATE, DELETE)
    after_login = issued_id(response)
    assert after_login != before_login
    assert redis_client.keys() == [f"store:{after_login}".encode()]
    stored = json.loads(redis_client.get(f"store:{after_login}"))
    assert stored == {"counter": 1, "user": "ann", "role": "admin"}
    assert call(api, "/read", before_login).data == {}


def test_regenerate_twice_on_a_new_session_issues_one_id(store, redis_client):
    api = twice_api(RedisSessionMiddleware(store))
    commands = Commands(redis_client)
    response = call(api, "/login-twice")
    assert commands.delta() == {"set": 1}
    assert len(set_cookies(response)) == 1
    assert redis_client.keys() == [f"store:{issued_id(response)}".encode()]
