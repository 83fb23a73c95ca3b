"""EmbeddedRedis starts a real redis-server and always stops it: on exit, error, Ctrl-C, SIGTERM."""

import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import redis
from support.servers import refuses_connections

from hug_store_redis.cli.embedded import EmbeddedRedis, RedisServerNotFound

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
