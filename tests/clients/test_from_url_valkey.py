"""``valkey://`` and ``valkeys://`` URLs: valkey-py clients, checked against valkey-py's classes.

The URLs name whichever server the run started (``--server``); valkey-py talks to Redis
and Valkey alike. Without valkey-py installed, a valkey URL is a clear error.
"""

import subprocess
import sys

import pytest
import valkey
import valkey.connection
from support.server_kinds import valkey_server_executable
from support.servers import HOST, RedisServer, free_port
from valkey.cluster import ValkeyCluster

from hug_store_redis import RedisStore
from hug_store_redis.clients import InvalidURLError, ServerUnreachableError, client_from_url, server_info

pytestmark = pytest.mark.one_twin


def test_valkey_url_gives_a_valkey_client(redis_server, redis_client, store_path):
    store = RedisStore.from_url(f"valkey://{HOST}:{redis_server.port}/3", namespace="vk", expiration=60)
    try:
        assert type(store.connection) is valkey.Valkey
        assert store.uses_fast_path is (store_path == "fast")
        store.set("k", {"n": 1})
        assert store.get("k") == {"n": 1}
        assert redis_client.execute_command("SELECT", 3) and redis_client.ttl("vk:k") == 60
    finally:
        store.connection.close()


def test_valkeys_url_gives_a_tls_valkey_client():
    client = client_from_url(f"valkeys://{HOST}:{free_port()}/0", ssl_cert_reqs="none")
    assert type(client) is valkey.Valkey
    assert client.connection_pool.connection_class is valkey.connection.SSLConnection


def test_valkey_cluster_url_and_flag(redis_cluster):
    port = redis_cluster.nodes[0].port
    for client in (
        client_from_url(f"valkey+cluster://{HOST}:{port}/0"),
        client_from_url(f"valkey://{HOST}:{port}/0", cluster=True),
    ):
        assert type(client) is ValkeyCluster
        store = RedisStore(client, namespace="vk")
        store.set("k", 1)
        assert store.get("k") == 1 and store.delete("k")
        client.close()


def test_query_and_keywords_are_checked_against_valkey_py():
    url = f"valkey://{HOST}:{free_port()}/0"
    client = client_from_url(f"{url}?health_check_interval=2&client_name=x")
    assert client.connection_pool.connection_kwargs["health_check_interval"] == 2
    with pytest.raises(InvalidURLError, match="query parameter 'socket_timeout' has a bad value"):
        client_from_url(f"{url}?socket_timeout=soon")
    with pytest.raises(InvalidURLError, match="unknown query parameter 'nope'"):
        client_from_url(f"{url}?nope=1")
    # valkey-py's own keywords: its client-side cache is valkey-py's, unknown to redis-py.
    assert client_from_url(url, protocol=3, cache_enabled=True).connection_pool.connection_kwargs[
        "cache_enabled"
    ]
    with pytest.raises(TypeError, match="a redis-py Connection takes no keyword argument 'cache_enabled'"):
        client_from_url(f"redis://{HOST}:{free_port()}/0", cache_enabled=True)
    with pytest.raises(TypeError, match="a valkey-py Connection takes no keyword argument 'socket_timout'"):
        client_from_url(url, socket_timout=1)
    with pytest.raises(TypeError, match=r"ssl_\* options need valkeys://"):
        client_from_url(url, ssl_certfile="x")


def test_an_unreachable_valkey_cluster_fails_at_once_without_the_password():
    url = f"valkey+cluster://user:s3cret@{HOST}:{free_port()}/0"
    with pytest.raises(ServerUnreachableError) as caught:
        client_from_url(url, socket_connect_timeout=1)
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)


def test_without_valkey_py_a_valkey_url_names_the_missing_package():
    """A fresh interpreter where valkey-py cannot be imported: redis URLs still work."""
    script = """
import sys
sys.modules["valkey"] = None  # import valkey now raises ModuleNotFoundError
from hug_store_redis import RedisStore
from hug_store_redis.clients import InvalidURLError
RedisStore.from_url("redis://127.0.0.1:1/0")
try:
    RedisStore.from_url("valkey://user:s3cret@127.0.0.1:1/0")
except InvalidURLError as error:
    print(error)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout
        == "valkey://user:***@127.0.0.1:1/0: valkey:// URLs need valkey-py: pip install valkey\n"
    )


def test_server_info_names_valkey_and_its_own_version(tmp_path):
    server = RedisServer(tmp_path, executable=valkey_server_executable()).start()
    try:
        info = server_info(f"valkey://{HOST}:{server.port}/0")
    finally:
        server.stop()
    assert info["name"] == "valkey" and info["mode"] == "standalone"
    assert info["version"].startswith("8.1.")  # not the Redis release it claims compatibility with
