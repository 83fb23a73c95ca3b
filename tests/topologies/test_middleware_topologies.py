"""RedisSessionMiddleware on a real Redis Cluster and through Sentinel: the whole session life."""

import json

import pytest
from redis.cluster import RedisCluster
from support.session_app import call, issued_id, make_api

from hug_store_redis import RedisSessionMiddleware, RedisStore


@pytest.fixture(params=["cluster", "sentinel"])
def topology_client(request):
    return request.getfixturevalue("cluster_client" if request.param == "cluster" else "sentinel_master")


def commands_on(client) -> dict[str, int]:
    """Calls per command across every primary (one node for a Sentinel-managed client)."""
    if isinstance(client, RedisCluster):
        per_node = client.info("commandstats", target_nodes=RedisCluster.PRIMARIES).values()
    else:
        per_node = [client.info("commandstats")]
    totals: dict[str, int] = {}
    for stats in per_node:
        for name, value in stats.items():
            totals[name] = totals.get(name, 0) + value["calls"]
    return totals


# Commands that read or write keys. The servers also count traffic that is not the
# middleware's: replicas' REPLCONF ACKs, slot refreshes, connection handshakes, our INFO.
KEY_COMMANDS = {
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


def delta(before, after):
    return {
        name: after[f"cmdstat_{name}"] - before.get(f"cmdstat_{name}", 0)
        for name in KEY_COMMANDS
        if after.get(f"cmdstat_{name}", 0) != before.get(f"cmdstat_{name}", 0)
    }


def test_a_session_lives_and_dies_on_the_topology(topology_client):
    store = RedisStore(topology_client)
    middleware = RedisSessionMiddleware(store)
    api = make_api(middleware)

    sid = issued_id(call(api, "/write"))
    assert json.loads(topology_client.get(f"store:{sid}")) == {"counter": 1}

    before = commands_on(topology_client)
    assert call(api, "/read", sid).data == {"counter": 1}
    assert delta(before, commands_on(topology_client)) == {"getex": 1}

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
