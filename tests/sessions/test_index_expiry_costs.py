"""What the per-user index's entry expiry costs where the server has none: nothing.

On a real redis-server 7.0 (no HEXPIRE), whatever ``--server`` says: once the index has seen
the transport's detection say so, a write or a touch of a bound session asks nothing of the
index (no ``note_seen``, no detection) until its last-seen update is due; and after the
transport forgot its detection (a refused native command), a plain read with a touch due does
not pay the detection's ``COMMAND INFO`` and ``COMMAND DOCS``.
"""

import hug
import pytest
import redis
from support.commands import command_calls
from support.servers import RedisServer
from support.session_app import issued_id, signed_in_api

from hug_store_redis import RedisSessionMiddleware, RedisStore
from hug_store_redis.transport import COMPARE_AND_SET, READ_AND_TOUCH

pytestmark = pytest.mark.one_twin

EXPIRATION = 60
COUNTED = ("command|info", "command|docs", "hset", "expire", "hexpire")


@pytest.fixture(scope="module")
def redis_7_0(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis-7.0"), executable="redis-server").start()
    yield server
    server.stop()


@pytest.fixture
def client(redis_7_0):
    client = redis.Redis(port=redis_7_0.port, socket_timeout=5)
    client.flushall()
    for script in (READ_AND_TOUCH, COMPARE_AND_SET):  # loaded: no first NOSCRIPT asks again
        client.script_load(script.text)
    yield client
    client.close()


def counts(client):
    calls = command_calls(client)
    return {name: calls.get(name, 0) for name in COUNTED}


def delta(before, after):
    return {name: after[name] - before[name] for name in COUNTED if after[name] != before[name]}


def test_without_hexpire_touches_and_writes_ask_the_index_nothing(client, store_path):
    store = RedisStore(client, expiration=EXPIRATION)
    middleware = RedisSessionMiddleware(store, touch_after=0, cookie_secure=False)
    api = signed_in_api(middleware)

    @hug.get("/read", api=api)
    def read(request):
        return request.context["session"].get("n")

    sid = issued_id(hug.test.get(api, "/login"))
    cookie = {"Cookie": f"sid={sid}"}
    assert hug.test.get(api, "/add", headers=cookie).data == 1  # the detection seen: no HEXPIRE
    middleware.user_index.seen_every = 3600.0  # last seen just written: not due again
    before = counts(client)
    for n in (2, 3):
        assert hug.test.get(api, "/add", headers=cookie).data == n
    assert hug.test.get(api, "/read", headers=cookie).data == 3  # a touch due (touch_after=0)
    assert delta(before, counts(client)) == {}
    store.server_changed()  # the transport forgets its detection
    before = counts(client)
    assert hug.test.get(api, "/read", headers=cookie).data == 3  # a plain read, a touch due
    assert delta(before, counts(client)) == {}
