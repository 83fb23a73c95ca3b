"""RedisSessionMiddleware on a real Redis Cluster and through Sentinel: the whole session life."""

import json

import pytest
from support.commands import Commands
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
