"""RedisStore.from_url and the URL clients: schemes, TLS, unix sockets, clusters, masked errors."""

import pytest
import redis
from redis.cluster import RedisCluster

from hug_store_redis import RedisStore
from hug_store_redis.connect import (
    InvalidURLError,
    ServerUnreachableError,
    client_from_url,
    mask_url,
)

pytestmark = pytest.mark.one_twin


def _close(store):
    store.connection.close()


def test_redis_url_with_db_namespace_and_expiration(redis_server, redis_client):
    store = RedisStore.from_url(
        f"redis://{redis_server.host}:{redis_server.port}/3", namespace="web", expiration=60
    )
    try:
        store.set("k", {"a": 1})
        redis_client.select(3)
        assert redis_client.get("web:k") == b'{"a": 1}'
        assert 0 < redis_client.ttl("web:k") <= 60
        assert (store.namespace, store.expiration) == ("web", 60)
    finally:
        redis_client.flushall()
        _close(store)


def test_client_kwargs_reach_redis_py(redis_server):
    store = RedisStore.from_url(f"redis://{redis_server.host}:{redis_server.port}/0", decode_responses=True)
    try:
        store.set("k", [1])
        assert store.read_payload("k") == "[1]"
        assert store.get("k") == [1]
    finally:
        store.connection.flushall()
        _close(store)


def test_unix_socket_url(redis_server, redis_client):
    store = RedisStore.from_url(f"unix://{redis_server.unixsocket}?db=0", namespace="sock")
    try:
        store.set("k", 1)
        assert redis_client.get("sock:k") == b"1"
    finally:
        redis_client.flushall()
        _close(store)


def test_tls_url(redis_tls):
    store = RedisStore.from_url(redis_tls.url, namespace="tls", ssl_ca_certs=str(redis_tls.ca_cert))
    try:
        store.set("k", {"secure": True})
        assert store.get("k") == {"secure": True}
        assert redis_tls.node.client.get("tls:k") == '{"secure": true}'
    finally:
        redis_tls.node.client.flushall()
        _close(store)


def test_tls_url_refuses_an_unknown_certificate(redis_tls):
    store = RedisStore.from_url(redis_tls.url, namespace="tls")
    try:
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            store.set("k", 1)
    finally:
        _close(store)
    assert redis_tls.node.client.dbsize() == 0


def test_cluster_flag_and_cluster_scheme(redis_cluster):
    port = redis_cluster.nodes[0].port
    for url, flag in ((f"redis://127.0.0.1:{port}", True), (f"redis+cluster://127.0.0.1:{port}", None)):
        client = client_from_url(url, cluster=flag)
        try:
            assert isinstance(client, RedisCluster)
            assert len(client.get_primaries()) == 3
        finally:
            client.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
        ("redis://user:s3cret@127.0.0.1:1", "redis://user:***@127.0.0.1:1"),
        ("rediss+cluster://u:s3cret@h:1/0", "rediss+cluster://u:***@h:1/0"),
        ("redis://127.0.0.1:1/0?password=s3cret&db=1", "redis://127.0.0.1:1/0?password=***&db=1"),
        ("redis://user@127.0.0.1:1", "redis://user@127.0.0.1:1"),
        ("unix:///tmp/redis.sock", "unix:///tmp/redis.sock"),
        ("redis://u:s3cret@[::1:1", "redis://u:***@[::1:1"),
        ("redis://:p@ss@127.0.0.1:1", "redis://:***@127.0.0.1:1"),
        ("redis://h:1/0?PASSWORD=s3cret", "redis://h:1/0?PASSWORD=***"),
    ],
)
def test_mask_url_hides_only_the_password(url, shown):
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    ("url", "kwargs", "message"),
    [
        ("http://u:s3cret@127.0.0.1:1", {}, "unsupported URL scheme"),
        ("127.0.0.1:6380", {}, "unsupported URL scheme"),
        ("redis+cluster://u:s3cret@127.0.0.1:1", {"cluster": False}, "cluster=False"),
        ("unix://:s3cret@/tmp/redis.sock", {"cluster": True}, "not reachable over unix"),
        ("redis://:s3cret@127.0.0.1:port/0", {}, "Port"),
    ],
)
def test_bad_urls_raise_invalid_url_error_without_the_password(url, kwargs, message):
    with pytest.raises(InvalidURLError, match=message) as caught:
        RedisStore.from_url(url, **kwargs)
    assert "s3cret" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_non_str_url_is_invalid():
    with pytest.raises(InvalidURLError, match="must be str"):
        RedisStore.from_url(b"redis://127.0.0.1")


def test_unreachable_cluster_fails_at_once_without_the_password():
    with pytest.raises(ServerUnreachableError) as caught:
        RedisStore.from_url("redis+cluster://:s3cret@127.0.0.1:1/0", socket_connect_timeout=1)
    assert "s3cret" not in str(caught.value)
    assert str(caught.value).startswith("redis+cluster://:***@127.0.0.1:1/0: ")
    assert isinstance(caught.value, redis.ConnectionError)


@pytest.mark.parametrize(
    ("namespace", "expiration", "error"),
    [(b"bytes", 60, TypeError), ("ns", 0, ValueError), ("ns", 1.5, ValueError), ("ns", "60", TypeError)],
)
def test_bad_arguments_fail_before_connecting(namespace, expiration, error):
    """An unreachable cluster would raise ServerUnreachableError: the argument check comes first."""
    with pytest.raises(error):
        RedisStore.from_url("redis+cluster://127.0.0.1:1", namespace=namespace, expiration=expiration)
