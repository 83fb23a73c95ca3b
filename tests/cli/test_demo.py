"""`python -m hug_store_redis demo` for real: a subprocess on a free port and a client keeping cookies."""

import http.cookiejar
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from support.commands import Commands
from support.servers import free_port, refuses_connections

pytestmark = pytest.mark.one_twin

STARTUP_DEADLINE = 30.0


class Demo:
    """The demo process, its printed lines read in a thread so waits have a deadline."""

    def __init__(self, *arguments, cwd, env_url=None):
        env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
        if env_url is not None:
            env["REDIS_URL"] = env_url
        # Run from an empty directory so the installed package is imported, not the source tree.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hug_store_redis", "demo", *arguments],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self):
        line = self.lines.get(timeout=STARTUP_DEADLINE)
        assert line is not None, f"demo exited: {self.process.wait(10)} {self.process.stderr.read()}"
        return line

    def stop(self, signum=signal.SIGINT):
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_demo(tmp_path):
    demos = []

    def start(*arguments, env_url=None):
        demo = Demo(*arguments, cwd=tmp_path, env_url=env_url)
        demos.append(demo)
        return demo

    yield start
    for demo in demos:
        demo.stop()


def started(demo):
    """(base URL, Redis line) from the two lines the demo prints once it is listening."""
    address = re.fullmatch(r"hug_store_redis demo: open (http://127\.0\.0\.1:\d+/)", demo.line())
    assert address, "the demo must print the address to open"
    return address.group(1), demo.line()


class Browser:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path):
        with self.opener.open(self.base + path.lstrip("/"), timeout=10) as response:
            return response.read().decode()

    def post(self, path, **form):
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.base + path.lstrip("/"), data=data, timeout=10) as response:
            return response.read().decode()  # the 303 is followed to GET /, as a browser does

    def session(self):
        return json.loads(self.get("/session"))

    def session_id(self):
        (cookie,) = self.jar
        assert not cookie.secure and cookie.path == "/" and cookie.has_nonstandard_attr("HttpOnly")
        assert cookie.get_nonstandard_attr("SameSite") == "Lax"
        return cookie.value


def visits(page):
    return int(re.search(r'id="visits">(\d+)<', page).group(1))


def test_demo_on_embedded_redis_counts_logs_in_fills_a_cart_and_stops_redis_on_ctrl_c(start_demo):
    demo = start_demo("--port", "0")
    base, where = started(demo)
    redis_port = int(re.search(r"embedded redis-server on 127\.0\.0\.1:(\d+)", where).group(1))
    browser = Browser(base)

    assert [visits(browser.get("/")) for _ in range(2)] == [1, 2]
    anonymous = browser.session_id()
    assert browser.session() == {"visits": 2}

    page = browser.post("/login", name="Ann <b>")
    assert 'Logged in as <strong id="user">Ann &lt;b&gt;</strong>' in page
    logged_in = browser.session_id()
    assert logged_in != anonymous  # login regenerates the id

    browser.post("/cart", item="pear")
    page = browser.post("/cart", item="pear")
    assert "<li>pear: 2</li>" in page
    assert browser.session() == {"visits": 5, "user": "Ann <b>", "cart": {"pear": 2}}

    with pytest.raises(urllib.error.HTTPError) as error:
        browser.post("/cart", item="banana")
    assert error.value.code == 400

    page = browser.post("/logout")
    assert visits(page) == 1 and "Log in" in page  # a fresh session after logout
    assert browser.session_id() not in (anonymous, logged_in)

    assert demo.stop(signal.SIGINT) == 130
    assert refuses_connections(redis_port)


def test_demo_stops_its_redis_on_sigterm(start_demo):
    demo = start_demo("--port", "0")
    base, where = started(demo)
    redis_port = int(re.search(r"127\.0\.0\.1:(\d+)", where).group(1))
    assert visits(Browser(base).get("/")) == 1
    assert demo.stop(signal.SIGTERM) != 0
    assert refuses_connections(redis_port)


@pytest.mark.parametrize("how", ["--url", "REDIS_URL"])
def test_demo_uses_the_given_redis(start_demo, redis_server, redis_client, how):
    url = f"redis://{redis_server.host}:{redis_server.port}/0"
    if how == "--url":
        demo = start_demo("--port", "0", "--url", url)
    else:
        demo = start_demo("--port", "0", env_url=url)
    base, where = started(demo)
    assert url in where
    browser = Browser(base)
    browser.get("/")
    assert redis_client.keys("demo:*") == [f"demo:{browser.session_id()}".encode()]
    commands = Commands(redis_client)
    assert browser.session() == {"visits": 1}  # read-only: one GETEX, no write
    assert commands.delta() == {"getex": 1}
    browser.post("/login", name="Bo")
    logged_in = browser.session_id()
    assert redis_client.keys("demo:*") == [f"demo:{logged_in}".encode()]
    browser.post("/logout")  # deletes the session; the redirect to / starts a new one
    assert redis_client.keys("demo:*") == [f"demo:{browser.session_id()}".encode()]
    assert browser.session_id() != logged_in


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:1/", "unsupported URL scheme"),
        ("redis://127.0.0.1:{closed}/0", "cannot reach Redis at redis://127.0.0.1:"),
        ("redis://user:s3cret@127.0.0.1:{closed}/0", "cannot reach Redis at redis://user:***@"),
    ],
    ids=["scheme", "closed port", "password redacted"],
)
def test_bad_redis_url_is_one_line_on_stderr(tmp_path, url, message):
    url = url.format(closed=free_port())
    result = subprocess.run(
        [sys.executable, "-m", "hug_store_redis", "demo", "--port", "0", "--url", url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("hug-store-redis demo: ") and message in line
    assert "s3cret" not in line


def test_port_in_use_is_one_line_on_stderr(tmp_path, redis_server):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "hug_store_redis", "demo", "--port", str(port)],
            cwd=tmp_path,
            env={**os.environ, "REDIS_URL": f"redis://{redis_server.host}:{redis_server.port}/0"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"cannot listen on 127.0.0.1:{port}" in line
