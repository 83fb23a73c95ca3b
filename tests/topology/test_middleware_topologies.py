"""RedisSessionMiddleware on a real Redis Cluster and through Sentinel: the whole session life."""

import json

import pytest
from support.commands import Commands
from support.driven import DrivenRequest
from support.session_app import READ, call, issued_id, make_api

from hug_store_redis import RedisSessionMiddleware, RedisStore


@pytest.fixture(params=["cluster", "sentinel"])
def topology_client(request):
    return request.getfixturevalue("cluster_client" if request.param == "cluster" else "sentinel_master")


# Commands that read or write keys: the servers also count traffic that is not the middleware's.
KEY_COMMANDS = {
    "evalsha",
    "eval",
    "pttl",
    "pexpire",
    "get",
    "getex",
    "set",
    "setex",
    "del",
    "unlink",
    "exists",
    "expire",
    "mget",
    "mset",
    "scan",
    "keys",
}


def test_a_session_lives_and_dies_on_the_topology(topology_client):
    store = RedisStore(topology_client)
    middleware = RedisSessionMiddleware(store)
    api = make_api(middleware)

    sid = issued_id(call(api, "/write"))
    assert json.loads(topology_client.get(f"store:{sid}")) == {"counter": 1}

    assert call(api, "/read", sid).data == {"counter": 1}  # the script is loaded on the key's node
    commands = Commands(topology_client, only=KEY_COMMANDS)
    assert call(api, "/read", sid).data == {"counter": 1}
    assert commands.delta() == READ  # one round trip, and no touch due: nothing written

    assert call(api, "/write", sid).data == 2
    new_sid = issued_id(call(api, "/login", sid))
    assert new_sid != sid and topology_client.get(f"store:{sid}") is None
    assert json.loads(topology_client.get(f"store:{new_sid}")) == {"counter": 2, "user": "ann"}

    call(api, "/logout", new_sid)
    assert topology_client.get(f"store:{new_sid}") is None


def test_corrupt_session_is_a_new_session_on_the_topology(topology_client):
    api = make_api(RedisSessionMiddleware(RedisStore(topology_client)))
    sid = issued_id(call(api, "/write"))
    topology_client.set(f"store:{sid}", b"\xff not json")
    response = call(api, "/write", sid)
    assert response.status == "200 OK" and response.data == 1


def test_overlapping_writes_merge_and_a_deleted_session_stays_gone_on_the_topology(topology_client):
    middleware = RedisSessionMiddleware(RedisStore(topology_client))
    sid = issued_id(call(make_api(middleware), "/write"))
    first, second = DrivenRequest(middleware, sid), DrivenRequest(middleware, sid)
    first.read()
    second.read()
    first.session["a"] = 1
    first.write()
    second.session["b"] = 2
    second.write()  # conflicts, merges, writes
    assert json.loads(topology_client.get(f"store:{sid}")) == {"counter": 1, "a": 1, "b": 2}

    late = DrivenRequest(middleware, sid)
    late.read()
    login = DrivenRequest(middleware, sid)
    login.read()
    middleware.regenerate(login.request)
    login.write()
    late.session["c"] = 3
    late.write()  # the old id is gone: never written back
    assert topology_client.get(f"store:{sid}") is None
    assert late.set_cookies() == []  # the login's new cookie stands
