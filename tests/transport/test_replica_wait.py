"""``wait_replicas``: a write counts only once that many replicas hold it (WAIT, same round trip)."""

import logging
import pickle

import pytest
import redis
from support.session_app import call, make_api, set_cookies

from hug_store_redis import RedisStore
from hug_store_redis.errors import NotReplicatedError
from hug_store_redis.sessions import RedisSessionMiddleware


def test_a_server_without_replicas_refuses_to_acknowledge(redis_client):
    store = RedisStore(redis_client, namespace="w", wait_replicas=1, wait_timeout_ms=20)
    for write in (
        lambda: store.set("k", {"a": 1}),
        lambda: store.replace_payload("k2", b"2", "k"),
        lambda: store.compare_and_set("k2", b"2", b"3"),
        lambda: store.create("k3", b"3"),
        lambda: store.create_replacing("k4", b"4", "k3"),
        lambda: store.delete("k4"),
    ):
        with pytest.raises(NotReplicatedError, match="0 of 1 replicas") as caught:
            write()
        assert isinstance(caught.value, redis.ConnectionError)  # on_error="degrade" applies
    assert store.stats()["errors"] == 6
    error = caught.value
    assert pickle.loads(pickle.dumps(error)).args == error.args


def test_wait_with_zero_replicas_is_no_wait(redis_client):
    store = RedisStore(redis_client, namespace="w", wait_replicas=0)
    store.set("k", 1)
    assert store.get("k") == 1


def test_writes_wait_for_the_replica(sentinel_master):
    store = RedisStore(sentinel_master, namespace="w", wait_replicas=1, wait_timeout_ms=2000)
    store.set("a", {"x": 1})
    store.replace_payload("b", b'{"x": 2}', "a")
    assert store.get("b") == {"x": 2}
    assert store.compare_and_set("b", b'{"x": 2}', b'{"x": 3}').written
    assert store.create("c", b"{}") and store.create_replacing("d", b"{}", "c")
    assert store.get("d") == {} and not store.exists("c")
    assert store.delete("b") is True
    assert store.delete("b") is False


def test_from_url_passes_wait_options_and_checks_them_first(redis_server):
    url = f"redis://{redis_server.host}:{redis_server.port}/0"
    store = RedisStore.from_url(url, namespace="w", wait_replicas=1, wait_timeout_ms=20)
    with pytest.raises(NotReplicatedError):
        store.set("k", 1)
    store.connection.close()
    with pytest.raises(ValueError, match="wait_replicas"):
        RedisStore.from_url("redis://127.0.0.1:1/0", wait_replicas=-1)


@pytest.mark.one_twin
def test_refused_on_a_cluster_client(cluster_client):
    with pytest.raises(ValueError, match="Redis Cluster"):
        RedisStore(cluster_client, wait_replicas=1)


@pytest.mark.parametrize("on_error", ["raise", "degrade"])
def test_the_middleware_treats_an_unreplicated_write_as_an_unreachable_store(redis_client, caplog, on_error):
    store = RedisStore(redis_client, wait_replicas=1, wait_timeout_ms=20)
    api = make_api(RedisSessionMiddleware(store, on_error=on_error))
    if on_error == "raise":
        with pytest.raises(NotReplicatedError):
            call(api, "/write")
        return
    with caplog.at_level(logging.WARNING, logger="hug_store_redis.middleware"):
        response = call(api, "/write")
    assert response.status == "200 OK"
    assert set_cookies(response) == []  # no cookie for a session that is not saved
    assert "session not saved" in caplog.text and "0 of 1 replicas" in caplog.text
