"""The README's Python examples run as written (against the test server instead of :6379)."""

import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import hug
import pytest
from support.servers import free_port, wait_for
from support.session_app import issued_id

README = Path(__file__).resolve().parents[2] / "README.md"
ELSEWHERE = ("10.0.0.", "example.com", "/run/redis", "/etc/ssl")

pytestmark = pytest.mark.one_twin


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_examples_run_in_order_against_a_real_server(redis_server, redis_client):
    namespace = {"__name__": f"readme_example_{uuid.uuid4().hex}"}  # a hug API of its own
    ran = 0
    for block in python_blocks():
        if any(marker in block for marker in ELSEWHERE):
            continue
        exec(compile(block.replace("6379", str(redis_server.port)), "README.md", "exec"), namespace)
        ran += 1
    assert ran >= 5
    store = namespace["store"]
    assert store.stats()["hits"] == 1 and not store.exists("key")  # set, get, exists, delete ran
    assert "hug_store_redis_writes_total 1\n" in namespace["metrics_text"](store)
    assert callable(namespace["login"]) and callable(namespace["logout"])

    # The signed-in devices sample on an API of its own (the blocks above stack several
    # session middlewares on theirs), as a browser uses it: signed out it gets a 401 saying
    # so (never a 500), signed in its own device.
    (block,) = [block for block in python_blocks() if '@hug.get("/devices")' in block]
    name = f"readme_devices_{uuid.uuid4().hex}"
    api = hug.API(name)
    api.http.add_middleware(namespace["sessions"])
    exec(
        compile(block, "README.md", "exec"), {"__name__": name, "hug": hug, "sessions": namespace["sessions"]}
    )
    for response in (
        hug.test.get(api, "/devices"),
        hug.test.post(api, "/devices/sign-out", {"device": "x"}),
        hug.test.post(api, "/devices/sign-out-others"),
    ):
        assert response.status == "401 Unauthorized"
        assert "sign in" in json.dumps(response.data).lower()
    sid = issued_id(hug.test.post(api, "/sign-in", {"name": "ann"}))
    (device,) = hug.test.get(api, "/devices", headers={"cookie": f"sid={sid}"}).data
    assert device["here"] is True


def test_every_make_target_the_readme_names_exists():
    makefile = (README.parent / "Makefile").read_text()
    rules = [
        re.compile(re.escape(name).replace("%", ".+") + "$")
        for name in re.findall(r"^([A-Za-z0-9%._-]+):", makefile, flags=re.M)
    ]
    for target in set(re.findall(r"`make ([a-z0-9-]+)", README.read_text())):
        assert any(rule.match(target) for rule in rules), target


def test_every_example_that_imports_runs_on_its_own(redis_server, redis_client):
    """A block with imports is meant to be copied alone: it must not lean on an earlier block."""
    standalone = [
        block
        for block in python_blocks()
        if re.search(r"^(import|from) ", block, flags=re.M) and not any(m in block for m in ELSEWHERE)
    ]
    assert len(standalone) >= 5
    for block in standalone:
        code = block.replace("6379", str(redis_server.port))
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_inside_the_readme_reaches_a_heading():
    text = README.read_text()
    anchors = {github_anchor(heading) for heading in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links and links <= anchors, sorted(links - anchors)


def test_quick_start_with_redis_down_answers_and_says_so_in_one_line(own_server, tmp_path):
    """The quick start's app.py under ``hug -f``, as the README serves it: with its Redis
    stopped a request still gets an answer (generous deadline: no multi-second retries)
    and the terminal one line about it, not a traceback."""
    (tmp_path / "app.py").write_text(python_blocks()[0].replace("6379", str(own_server.port)))
    port = free_port()
    hug_script = Path(sys.executable).with_name("hug")
    server = subprocess.Popen(
        [hug_script, "-f", "app.py", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

        def visits():
            with opener.open(f"http://127.0.0.1:{port}/", timeout=30) as response:
                return json.loads(response.read())["visits"]

        wait_for("hug -f app.py to listen", lambda: _answers(port))
        assert [visits(), visits()] == [1, 2]
        own_server.stop()
        assert visits() == 1  # an empty, unsaved session while Redis is away
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert "Traceback" not in out + err
    (line,) = [line for line in err.splitlines() if "session store unreachable" in line]
    assert "Connection refused" in line


def _answers(port):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/favicon.ico", timeout=5).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
