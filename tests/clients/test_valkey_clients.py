"""valkey-py clients (``valkey.Valkey``, ``valkey.cluster.ValkeyCluster``) under the store.

valkey-py is a fork of redis-py with classes of its own, exceptions included: a
``valkey.exceptions.ConnectionError`` is no ``redis.exceptions.RedisError``. These tests
hold the store, the admin helpers and the middleware to the same promises on valkey-py
as on redis-py, on whichever server the run started (``--server``). A plain
``valkey.Valkey`` takes the fast path; its rules for valkey-py are proven in
test_fast_path.py, test_protocols.py and test_stale_connections.py.
"""

from collections.abc import Iterator

import pytest
import valkey
from hug.exceptions import StoreKeyNotFound
from support.server_kinds import selected_server
from support.servers import HOST, free_port
from support.session_app import call, issued_id, make_api
from valkey.cluster import ValkeyCluster

from hug_store_redis import RedisSessionMiddleware, RedisStore


@pytest.fixture
def valkey_client(redis_server, redis_client) -> Iterator[valkey.Valkey]:
    client = valkey.Valkey(host=redis_server.host, port=redis_server.port, socket_timeout=5)
    yield client
    client.close()


def closed_port_client() -> valkey.Valkey:
    return valkey.Valkey(host=HOST, port=free_port(), socket_timeout=1, socket_connect_timeout=1)


def test_the_store_on_a_valkey_client(valkey_client, redis_client, store_path):
    store = RedisStore(valkey_client, namespace="vk")
    assert store.uses_fast_path is (store_path == "fast")  # a plain valkey.Valkey is served
    store.set("k", {"n": 1})
    assert redis_client.get("vk:k") == b'{"n": 1}' and redis_client.ttl("vk:k") == 86400
    assert store.exists("k") and store.get("k") == {"n": 1}
    assert store.read_payload("k", touch=True) == b'{"n": 1}'
    store.replace_payload("k2", b"[2]", "k")
    assert not store.exists("k") and store.get("k2") == [2]
    assert store.delete("k2") and not store.delete("k2")
    with pytest.raises(StoreKeyNotFound):
        store.get("k2")
    assert store.count() == 0


def test_a_decoding_valkey_client_reads_str(redis_server, redis_client, store_path):
    client = valkey.Valkey(host=redis_server.host, port=redis_server.port, decode_responses=True)
    store = RedisStore(client, namespace="vk")
    store.set("k", {"n": "x"})
    assert store.read_payload("k") == '{"n": "x"}' and store.get("k") == {"n": "x"}
    client.close()


def test_valkey_errors_propagate_and_are_counted(valkey_client, redis_client, store_path):
    redis_client.lpush("vk:list", "x")
    store = RedisStore(valkey_client, namespace="vk")
    with pytest.raises(valkey.exceptions.ResponseError, match="WRONGTYPE"):
        store.get("list")
    with pytest.raises(valkey.exceptions.ConnectionError):
        RedisStore(closed_port_client()).get("k")
    assert store.stats()["errors"] == 1
    store.set("k", 1)  # still in step after the error
    assert store.get("k") == 1


def test_an_unreachable_server_is_counted_as_an_error(store_path):
    store = RedisStore(closed_port_client())
    with pytest.raises(valkey.exceptions.ConnectionError):
        store.set("k", 1)
    assert store.stats()["errors"] == 1


@pytest.mark.one_twin
def test_the_middleware_degrades_when_a_valkey_server_is_unreachable(own_server, caplog):
    client = valkey.Valkey(host=own_server.host, port=own_server.port, socket_timeout=1)
    api = make_api(RedisSessionMiddleware(RedisStore(client), on_error="degrade"))
    sid = issued_id(call(api, "/write"))
    assert call(api, "/read", sid).data == {"counter": 1}
    own_server.stop()
    read = call(api, "/read", sid)
    assert (read.status, read.data) == ("200 OK", {})
    client.close()


def test_the_store_on_a_valkey_cluster(redis_cluster, cluster_client):
    client = ValkeyCluster(host=HOST, port=redis_cluster.nodes[0].port, socket_timeout=5)
    store = RedisStore(client, namespace="vk")
    assert not store.uses_fast_path
    for number in range(20):  # keys on every primary
        store.set(f"k{number}", {"n": number})
    assert [store.get(f"k{number}") for number in range(20)] == [{"n": n} for n in range(20)]
    assert store.count() == 20 and sorted(store.ids()) == sorted(f"k{n}" for n in range(20))
    assert store.clear() == 20 and store.count() == 0
    client.close()


@pytest.mark.one_twin
def test_the_servers_of_this_run_are_the_selected_kind(redis_client, redis_cluster):
    """``--server`` reaches the session server and every Cluster node alike."""
    expected = selected_server().program
    assert redis_client.info("server").get("server_name", "redis") == expected
    names = {node.client.info("server").get("server_name", "redis") for node in redis_cluster.nodes}
    assert names == {expected}
