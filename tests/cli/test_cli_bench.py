"""``hug-store-redis bench``: a real run against a real server, and its errors."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.one_twin


def bench(*arguments, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "hug_store_redis", "bench", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_bench_against_a_given_url_prints_a_table_and_leaves_no_keys(redis_server, redis_client):
    redis_client.set("unrelated", b"kept")
    result = bench("--url", f"redis://{redis_server.host}:{redis_server.port}/0", "--seconds", "0.5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["operation", "store", "generic", "redis-py", "store/redis-py"]
    assert [line.split()[0] for line in lines[1:5]] == ["get", "set", "exists", "delete"]
    assert all(float(value) > 0 for line in lines[1:5] for value in line.split()[1:])
    assert "get     store" in result.stderr  # progress, as each measurement finishes
    assert redis_client.keys("*") == [b"unrelated"]


def test_bench_without_a_url_runs_on_an_embedded_server(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = bench("--seconds", "0.3", "--size", "medium")
    assert result.returncode == 0, result.stderr
    assert "embedded redis-server" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--url", "redis://127.0.0.1:1/0"], "cannot reach Redis at redis://127.0.0.1:1/0"),
        (["--url", "redis://user:hunter2@127.0.0.1:1/0"], "redis://user:***@127.0.0.1:1/0"),
        (["--url", "nonsense://x"], "unsupported URL scheme"),
        (["--seconds", "0"], "must be between 0 and 3600"),
        (["--size", "huge"], "invalid choice"),
    ],
)
def test_bench_errors_are_one_line(arguments, message):
    result = bench(*arguments)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
