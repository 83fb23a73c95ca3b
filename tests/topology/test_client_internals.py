"""The Sentinel follower's use of the pool's private parts: pinned, checked at construction.

A store on a Sentinel-managed client from a redis-py release outside the tested range (or a
pool without the attributes the follower reads) must refuse to start, naming the range, and
never run with a follower that cannot cut connections to a demoted primary.
"""

import re
import sys
import threading
from pathlib import Path

import pytest
import redis

from hug_store_redis import RedisStore
from hug_store_redis.errors import UnsupportedClientError
from hug_store_redis.topology import client_internals, sentinel_follow

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pinned(name: str) -> tuple[str, str]:
    text = PYPROJECT.read_text()
    low, high = re.search(rf'"{name}>=([\d.]+),<([\d.]+)"', text).groups()  # type: ignore[union-attr]
    return low, high


@pytest.mark.one_twin
@pytest.mark.parametrize("family", sorted(client_internals.SUPPORTED_RANGES))
def test_the_pin_in_pyproject_is_the_range_checked_at_run_time(family):
    low, high = client_internals.SUPPORTED_RANGES[family]
    low_text, high_text = ".".join(map(str, low)), ".".join(map(str, high))
    assert _pinned(family) == (low_text, high_text)
    assert f"{family}>={low_text},<{high_text}" in client_internals.supported_text()


@pytest.mark.one_twin
def test_the_installed_releases_are_in_the_range():
    """The run itself is on supported releases, or the Sentinel suites would test nothing."""
    for family in client_internals.SUPPORTED_RANGES:
        module = sys.modules.get(family)
        if module is not None:
            low, high = client_internals.SUPPORTED_RANGES[family]
            assert low <= client_internals._parsed(module.__version__) < high


@pytest.mark.one_twin
@pytest.mark.parametrize("version", ["9.0.0", "5.2.1", "10.1.0b1"])
def test_a_store_refuses_a_sentinel_client_outside_the_range(sentinel_master, monkeypatch, version):
    monkeypatch.setattr(redis, "__version__", version)
    for fast_path in (True, False):
        with pytest.raises(UnsupportedClientError) as raised:
            RedisStore(sentinel_master, namespace="pinned", fast_path=fast_path)
        message = str(raised.value)
        assert f"redis {version} is installed" in message
        assert "redis>=5.3,<9" in message
    assert sentinel_follow.follower_of(sentinel_master) is None  # nothing started


@pytest.mark.one_twin
def test_a_store_refuses_a_pool_without_the_attributes_it_reads(sentinel_master, monkeypatch):
    """Inside the range, a release that renamed them is caught at construction, not at a failover."""
    monkeypatch.delattr(sentinel_master.connection_pool, "_in_use_connections")
    with pytest.raises(UnsupportedClientError, match="has no _in_use_connections"):
        RedisStore(sentinel_master, namespace="pinned")


@pytest.mark.one_twin
def test_a_plain_client_is_not_checked(redis_client, monkeypatch):
    """Only Sentinel following needs the private parts: other clients work on any release."""
    monkeypatch.setattr(redis, "__version__", "9.0.0")
    RedisStore(redis_client, namespace="pinned").set("k", 1)


@pytest.mark.one_twin
def test_the_private_parts_see_what_another_thread_holds(sentinel_master):
    """What the follower relies on, on the installed release: a connection checked out by
    another thread is listed, and its socket is the one the server talks on."""
    RedisStore(sentinel_master, namespace="pinned").set("k", 1)
    pool = sentinel_master.connection_pool
    held = threading.Event()
    done = threading.Event()
    taken = []

    def hold() -> None:
        connection = pool.get_connection()
        connection.send_command("PING")
        connection.read_response()
        taken.append(connection)
        held.set()
        done.wait(10)
        pool.release(connection)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        assert taken[0] in client_internals.in_use_connections(pool)
        sock = client_internals.socket_of(taken[0])
        assert sock is not None
        assert sock.getpeername()[1] == taken[0].port
    finally:
        done.set()
        thread.join()
    assert taken[0] not in client_internals.in_use_connections(pool)
