"""When invalidations may be lost, the cache empties itself and reads go to Redis.

Killed connection, frozen server (heartbeat), restarted server, fork, the owner's reset:
each test checks the cache stops serving with nothing left in it, then serves again once
tracking is back and a heartbeat came through. Deadlines are generous; nothing is timed.
"""

import logging
import os
import signal
import threading

import pytest
import redis
from redis.sentinel import MasterNotFoundError
from support.cache import (
    GENEROUS,
    PREFIX,
    cache_entry,
    key,
    read,
    start_listener,
    wait_not_serving,
    wait_serving,
)
from support.proxy import SwitchingProxy
from support.servers import HOST, RedisServer, free_port, wait_for

from hug_store_redis.cache import InvalidationListener, LocalCache

pytestmark = pytest.mark.one_twin


def test_client_kill_flushes_then_recovers(listener, cache, redis_client, invalidations):
    redis_key = cache_entry(cache, redis_client, invalidations)
    old_id, flushes = listener.client_id, cache.stats()["flushes"]
    token = cache.begin_read(key("b"))
    redis_client.client_kill_filter(_id=old_id)
    wait_for("a new tracking connection", lambda: listener.sessions == 2 and cache.serving)
    assert cache.stats()["flushes"] > flushes
    assert cache.get(redis_key) is None
    assert not cache.finish_read(token, b"stale", -1)  # begun before the loss
    assert "closed" in str(listener.last_error)
    assert listener.client_id != old_id
    assert cache_entry(cache, redis_client, invalidations) == redis_key  # serving again


def test_a_frozen_server_stops_the_cache_within_the_heartbeat_bound(own_server, own_client, invalidations):
    """SIGSTOP: the connection stays open but nothing flows; the missing PONG must be noticed."""
    cache = LocalCache()
    listener = start_listener(own_server.port, cache, invalidations)
    try:
        wait_serving(cache)
        cache_entry(cache, own_client, invalidations)
        own_server.send(signal.SIGSTOP)
        try:
            wait_not_serving(cache)  # the bound is listener.lease (1.25 s); GENEROUS is far above
            assert cache.get(key("a")) is None  # the lease lapses on the hit path, thread or not
            wait_for("the listener to empty the cache", lambda: len(cache) == 0 and listener.last_error)
            assert "no reply" in str(listener.last_error) or "timed out" in str(listener.last_error)
        finally:
            own_server.send(signal.SIGCONT)
        wait_serving(cache)
        assert cache_entry(cache, own_client, invalidations) == key("a")
    finally:
        listener.close()


def test_a_restart_on_the_same_port_flushes_and_recovers(own_server, own_client, invalidations):
    cache = LocalCache()
    listener = start_listener(own_server.port, cache, invalidations)
    try:
        wait_serving(cache)
        cache_entry(cache, own_client, invalidations)
        first_run_id = listener.run_id
        own_server.stop()
        wait_not_serving(cache)
        wait_for("the listener to empty the cache", lambda: len(cache) == 0)
        own_server.start()
        wait_for("the restarted server to be tracked", lambda: listener.sessions == 2 and cache.serving)
        assert listener.run_id != first_run_id and listener.restarts_seen == 1
        assert read(cache, own_client, key("a")) is None  # the data went with the server
        assert cache_entry(cache, own_client, invalidations) == key("a")
    finally:
        listener.close()


def test_reset_empties_now_and_serves_again_on_a_new_connection(listener, cache, redis_client, invalidations):
    redis_key = cache_entry(cache, redis_client, invalidations)
    old_id, flushes = listener.client_id, cache.stats()["flushes"]
    listener.reset()
    # at once, not when the thread gets to it (which may already be serving again from a new connection)
    assert cache.stats()["flushes"] > flushes and cache.get(redis_key) is None
    wait_for("a new tracking connection", lambda: listener.client_id != old_id and cache.serving)
    cache_entry(cache, redis_client, invalidations)


def test_a_forked_child_starts_empty_and_not_serving(listener, cache, redis_client, invalidations):
    redis_key = cache_entry(cache, redis_client, invalidations)
    token = cache.begin_read(key("b"))
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        status = 1
        try:
            seen = (cache.serving, cache.get(redis_key), len(cache), cache.finish_read(token, b"x", -1))
            listener.start()  # the child's own connection, the parent's is untouched
            wait_serving(cache)
            seen += (
                read(
                    cache, redis.Redis(port=redis_client.connection_pool.connection_kwargs["port"]), redis_key
                ),
            )
            os.write(writer, repr(seen).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(reader) as report:
        assert report.read() == repr((False, None, 0, False, b"v1"))
    assert os.WEXITSTATUS(status) == 0
    assert cache.serving and cache.get(redis_key) == b"v1"  # the parent is unaffected
    redis_client.set(redis_key, b"v2")
    wait_for("the parent's listener to invalidate", lambda: cache.get(redis_key) is None, timeout=GENEROUS)


def test_the_placeholder_rule_holds_after_recovery(listener, cache, redis_client, invalidations):
    """After a reconnection, a read begun under the new lease is voided by a write as before."""
    redis_client.client_kill_filter(_id=listener.client_id)
    wait_for("a new tracking connection", lambda: listener.sessions == 2 and cache.serving)
    token = cache.begin_read(key("a"))
    redis_client.set(key("a"), b"new")
    invalidations.wait_for_key(key("a"))
    assert not cache.finish_read(token, b"old", -1)


def test_a_new_server_behind_a_live_connection_is_noticed(own_server, own_client, tmp_path, invalidations):
    """A proxy moves the connection to another server: PINGs still answer, tracking is gone.

    The run_id, asked every few heartbeats, is what tells; the cache must not keep serving
    bytes the new server will never invalidate.
    """
    (tmp_path / "second").mkdir()
    second = RedisServer(tmp_path / "second").start()
    proxy = SwitchingProxy(own_server.port)
    cache = LocalCache()
    listener = start_listener(proxy.port, cache, invalidations)
    try:
        wait_serving(cache)
        redis_key = cache_entry(cache, own_client, invalidations)
        first_run_id, flushes = listener.run_id, cache.stats()["flushes"]
        proxy.switch(second.port)
        wait_for("the cache to flush", lambda: cache.stats()["flushes"] > flushes, timeout=GENEROUS)
        assert cache.get(redis_key) is None
        wait_for("the new server to be tracked", lambda: listener.sessions == 2 and cache.serving)
        assert listener.run_id != first_run_id and listener.restarts_seen == 1
        # tracked on the new server: its writes invalidate
        with redis.Redis(port=second.port) as second_client:
            assert cache_entry(cache, second_client, invalidations) == redis_key
            second_client.set(redis_key, b"v2")
            invalidations.barrier(second_client)
            assert cache.get(redis_key) is None
    finally:
        listener.close()
        proxy.close()
        second.stop()


def test_reset_follows_an_address_that_moved(own_server, own_client, tmp_path, invalidations):
    """What a Sentinel owner does on switch-master: the address is asked again on reconnection."""
    (tmp_path / "second").mkdir()
    second = RedisServer(tmp_path / "second").start()
    current = {"port": own_server.port}
    cache = LocalCache()
    listener = InvalidationListener(lambda: ("127.0.0.1", current["port"]), on_invalidation=invalidations)
    listener.attach(cache, PREFIX)
    listener.start()
    try:
        wait_serving(cache)
        cache_entry(cache, own_client, invalidations)
        current["port"] = second.port
        listener.reset()
        assert len(cache) == 0
        wait_for("the new master to be tracked", lambda: listener.sessions == 2 and cache.serving)
        with redis.Redis(port=second.port) as second_client:
            redis_key = cache_entry(cache, second_client, invalidations)
            second_client.delete(redis_key)
            invalidations.barrier(second_client)
            assert len(cache) == 0
    finally:
        listener.close()
        second.stop()


def test_one_cache_kept_by_two_servers_as_on_a_cluster(own_server, own_client, tmp_path, invalidations):
    """A Cluster manager attaches the cache to one listener per primary: all must be flowing."""
    (tmp_path / "second").mkdir()
    second = RedisServer(tmp_path / "second").start()
    cache = LocalCache()
    listeners = [start_listener(port, cache, invalidations) for port in (own_server.port, second.port)]
    try:
        wait_serving(cache)
        with redis.Redis(port=second.port) as second_client:
            first_key = cache_entry(cache, own_client, invalidations, "on-first")
            second_key = cache_entry(cache, second_client, invalidations, "on-second")
            second_client.set(second_key, b"v2")
            invalidations.barrier(second_client)
            assert cache.get(second_key) is None and cache.get(first_key) == b"v1"
            second_client.client_kill_filter(_id=listeners[1].client_id)
            wait_for("the second listener to reconnect", lambda: listeners[1].sessions == 2 and cache.serving)
            assert cache.get(first_key) is None  # one primary's loss empties the whole cache
    finally:
        for listener in listeners:
            listener.close()
        second.stop()


def test_sentinels_without_a_master_yet_are_a_lost_connection_not_a_bug(own_server, caplog):
    """Mid-failover the sentinels may name no master (MasterNotFoundError): the listener retries,
    warns once like any lost connection, and serves once a master is named, with no traceback."""
    refusals = [MasterNotFoundError("No master found for 'mymaster'")] * 3
    asked_after_refusals = threading.Event()

    def address() -> tuple[str, int]:
        if refusals:
            raise refusals.pop()
        asked_after_refusals.set()
        return ("127.0.0.1", own_server.port)

    cache = LocalCache()
    listener = InvalidationListener(address, retry_delay=0.01)
    listener.attach(cache, PREFIX)
    with caplog.at_level(logging.DEBUG, logger="hug_store_redis.invalidation"):
        listener.start()
        try:
            wait_serving(cache)
        finally:
            listener.close()
    assert asked_after_refusals.is_set()
    assert [record for record in caplog.records if record.exc_info] == []
    warned = [record for record in caplog.records if "No master found" in record.getMessage()]
    assert [record.levelno for record in warned] == [logging.WARNING]


def test_a_listener_with_no_cache_left_warns_of_no_lost_invalidations(caplog):
    """A shared listener whose last cache detached keeps its thread for the next store; its
    failed connections then lose nothing, so they warn nobody (a line naming no namespace,
    ``[]``, was logged at WARNING before)."""
    cache = LocalCache()
    listener = InvalidationListener((HOST, free_port()), retry_delay=0.01)  # nothing listens there
    listener.attach(cache, PREFIX)
    listener.detach(cache)
    with caplog.at_level(logging.DEBUG, logger="hug_store_redis.invalidation"):
        listener.start()
        try:
            wait_for("failed connections", lambda: listener.connects >= 3, GENEROUS)
        finally:
            listener.close()
    assert listener.last_error is not None
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
