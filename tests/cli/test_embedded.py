"""The redis-server launcher: EmbeddedRedis always stops its server (exit, error, Ctrl-C, SIGTERM);
RedisServer picks ports below the ephemeral range, survives a port race, restarts in place."""

import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import redis
from support.servers import refuses_connections

from hug_store_redis.cli import embedded
from hug_store_redis.cli.embedded import (
    PORT_RANGE,
    RESERVED_PORTS,
    EmbeddedRedis,
    RedisServer,
    RedisServerNotFound,
    free_port,
)

pytestmark = pytest.mark.one_twin


def test_serves_on_a_free_loopback_port_and_stops_on_exit():
    with EmbeddedRedis() as server:
        assert server.host == "127.0.0.1"
        assert server.port not in (0, 6379)
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        assert client.config_get("save") == {"save": ""}
        directory = Path(client.config_get("dir")["dir"])
        assert directory.is_dir()
        client.close()
    assert refuses_connections(server.port)
    assert not directory.exists()


def test_stops_when_the_block_raises():
    with pytest.raises(ZeroDivisionError), EmbeddedRedis() as server:
        port = server.port
        1 / 0  # noqa: B018
    assert refuses_connections(port)


def test_missing_redis_server_is_a_clear_error(tmp_path):
    before = set(Path(tempfile.gettempdir()).glob("hug-store-redis-*"))
    with pytest.raises(RedisServerNotFound, match=r"not installed.*apt-get install redis-server"):
        EmbeddedRedis(executable=str(tmp_path / "no-redis-server")).__enter__()
    assert set(Path(tempfile.gettempdir()).glob("hug-store-redis-*")) == before


SCRIPT = textwrap.dedent(
    """
    import sys, time
    from hug_store_redis.cli.embedded import EmbeddedRedis
    with EmbeddedRedis() as server:
        print(server.port, flush=True)
        time.sleep(60)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_to_the_parent_stops_the_server(signum):
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        port = int(process.stdout.readline())
        assert redis.Redis(host="127.0.0.1", port=port).ping()
        process.send_signal(signum)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0
    assert refuses_connections(port)


# RedisServer: the launcher under EmbeddedRedis and every server the tests start.


def test_free_ports_stay_below_the_ephemeral_range_and_off_the_usual_ports():
    ports = {free_port() for _ in range(200)}
    assert all(port in PORT_RANGE and port not in RESERVED_PORTS for port in ports)


def test_a_port_taken_by_another_redis_between_probe_and_bind_is_skipped(tmp_path, redis_server, monkeypatch):
    """The probe said free, then another redis-server took the port: start on another one.

    That other server answers PING too, so "something answers" is not "ours started".
    """
    taken = redis_server.port
    offered = iter([taken])
    monkeypatch.setattr(embedded, "free_port", lambda: next(offered, None) or free_port())
    server = RedisServer(tmp_path).start()
    try:
        assert server.port != taken
        client = redis.Redis(host=server.host, port=server.port)
        assert client.info("server")["process_id"] == server.process.pid
        client.close()
    finally:
        server.stop()


def test_restart_after_sigkill_comes_back_on_the_same_port_empty(tmp_path):
    server = RedisServer(tmp_path).start()
    port = server.port
    client = redis.Redis(host=server.host, port=port)
    try:
        client.set("k", "v")
        server.send(signal.SIGKILL)
        assert not server.running
        server.start()
        assert server.port == port and client.get("k") is None
    finally:
        client.close()
        server.stop()


def test_a_server_that_will_not_start_says_why(tmp_path):
    server = RedisServer(tmp_path, "--no-such-directive", "1")
    with pytest.raises(RuntimeError, match="no-such-directive"):
        server.start()
    assert server.port == 0 and not server.running


def test_a_fixed_port_in_use_is_an_error_not_another_port(tmp_path, redis_server):
    server = RedisServer(tmp_path, port=redis_server.port)
    with pytest.raises(RuntimeError, match=f"did not start on port {redis_server.port}"):
        server.start()
    assert not server.running
