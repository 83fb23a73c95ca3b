"""The README's quick start as a new user runs it: app.py, hug's own server, a client keeping cookies."""

import http.cookiejar
import json
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support.servers import free_port

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.one_twin


def quick_start() -> str:
    text = README.read_text()
    return text[text.index("## Quick start") : text.index("## Install")]


def test_quick_start_app_keeps_a_session_in_redis(redis_server, redis_client, tmp_path):
    section = quick_start()
    (app,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (tmp_path / "app.py").write_text(app.replace("port=6379", f"port={redis_server.port}"))
    serve = next(line for line in section.splitlines() if " -f app.py" in line).removeprefix("$ ")
    arguments = shlex.split(serve)
    assert arguments[0] == ".venv-app/bin/hug"  # not .venv, the test venv
    port = free_port()
    arguments[0] = str(Path(sys.executable).parent / "hug")
    arguments[arguments.index("--port") + 1] = str(port)
    server = subprocess.Popen(arguments, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        visits = [json.loads(_get_when_up(opener, f"http://127.0.0.1:{port}/", server)) for _ in range(2)]
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert visits == [{"visits": 1}, {"visits": 2}]
    (key,) = redis_client.scan_iter(match="sessions:*")
    assert json.loads(redis_client.get(key)) == {"visits": 2}
    assert 3590 < redis_client.ttl(key) <= 3600


def _get_when_up(opener, url, server, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=5) as response:
                return response.read()
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"hug did not serve the quick start: {server.stderr.read()!r}") from None
            time.sleep(0.1)
