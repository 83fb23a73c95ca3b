"""`python -m hug_store_redis demo` for real: a subprocess on a free port and a client keeping cookies."""

import http.client
import http.cookiejar
import importlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hug
import pytest
import redis
from support.commands import Commands
from support.servers import free_port, refuses_connections
from support.session_app import READ

from hug_store_redis import RedisStore
from hug_store_redis.cli import demo as demo_app
from hug_store_redis.cli.demo import build_api, make_server, merge_carts
from hug_store_redis.cli.embedded import EmbeddedRedis
from hug_store_redis.transport import READ_AND_TOUCH

pytestmark = pytest.mark.one_twin


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


def shown_id(page):
    return re.search(r'id="session-id">([^<]*)<', page).group(1)


def test_demo_on_embedded_redis_counts_logs_in_fills_a_cart_and_stops_redis_on_ctrl_c(start_demo):
    demo = start_demo("--port", "0")
    base, where = demo.started()
    banner = re.search(r"embedded redis-server [\d.]+ \(/\S+\) on 127\.0\.0\.1:(\d+)", where)
    redis_port = int(banner.group(1))
    browser = Browser(base)

    first = browser.get("/")
    anonymous = browser.session_id()
    assert shown_id(first) == anonymous[:8]  # the id is shown on the very first view
    assert [visits(first), visits(browser.get("/"))] == [1, 2]
    assert browser.session() == {"visits": 2}

    page = browser.post("/login", name="Ann <b>")
    assert 'Logged in as <strong id="user">Ann &lt;b&gt;</strong>' in page
    logged_in = browser.session_id()
    assert logged_in != anonymous  # login regenerates the id
    assert shown_id(page) == logged_in[:8]
    assert visits(page) == 2  # the page a form action redirects to is not a visit

    browser.post("/cart", item="pear")
    page = browser.post("/cart", item="pear")
    assert "<li>pear: 2</li>" in page and visits(page) == 2
    session = browser.session()
    binding = session.pop("hug_store_redis.user")  # bind_user at login: listed under "Your devices"
    assert session == {"visits": 2, "user": "Ann <b>", "cart": {"pear": 2}}
    assert binding["user"] == "Ann <b>" and logged_in not in binding["handle"]
    assert visits(browser.get("/")) == 3  # a reload is

    with pytest.raises(urllib.error.HTTPError) as error:
        browser.post("/cart", item="banana")
    assert error.value.code == 400

    page = browser.post("/logout")
    assert visits(page) == 1 and "Log in" in page  # a fresh session after logout: its first view
    assert browser.session_id() not in (anonymous, logged_in)
    assert shown_id(page) == browser.session_id()[:8]

    assert demo.stop(signal.SIGINT) == 0  # Ctrl-C is the normal way to stop it
    assert refuses_connections(redis_port)
    assert "Traceback" not in "\n".join(demo.errors)


@pytest.mark.parametrize(
    ("signum", "ignore_sigint"),
    [(signal.SIGTERM, False), (signal.SIGHUP, False), (signal.SIGINT, True)],
    ids=["SIGTERM", "SIGHUP", "SIGINT from a script's background job"],
)
def test_demo_stops_its_redis_and_exits_0_on_a_signal(start_demo, signum, ignore_sigint):
    """`kill`, a closed terminal, or `make demo &` in a script (which starts it with SIGINT
    ignored) then `kill -INT`."""
    demo = start_demo("--port", "0", ignore_sigint=ignore_sigint)
    base, where = demo.started()
    redis_port = int(re.search(r"127\.0\.0\.1:(\d+)", where).group(1))
    assert visits(Browser(base).get("/")) == 1
    assert demo.stop(signum) == 0
    assert refuses_connections(redis_port)
    assert demo.errors == [f"hug-store-redis demo: stopping on {signal.Signals(signum).name}"]


def test_demo_killed_takes_its_redis_along_and_leaves_no_directory(start_demo):
    demo = start_demo("--port", "0")
    _, where = demo.started()
    redis_port = int(re.search(r"127\.0\.0\.1:(\d+)", where).group(1))
    client = redis.Redis(host="127.0.0.1", port=redis_port)
    assert client.config_get("dir")["dir"] == ""  # removed once the server ran: nothing to leave
    client.close()
    assert demo.stop(signal.SIGKILL) == -signal.SIGKILL
    assert refuses_connections(redis_port)


@pytest.mark.parametrize("how", ["--url", "REDIS_URL"])
def test_demo_uses_the_given_redis(start_demo, redis_server, redis_client, how):
    url = f"redis://{redis_server.host}:{redis_server.port}/0"
    if how == "--url":
        demo = start_demo("--port", "0", "--url", url)
    else:
        demo = start_demo("--port", "0", env_url=url)
    base, where = demo.started()
    assert url in where
    browser = Browser(base)
    browser.get("/")
    assert redis_client.keys("demo:*") == [f"demo:{browser.session_id()}".encode()]
    redis_client.script_load(READ_AND_TOUCH.text)
    commands = Commands(redis_client)
    assert browser.session() == {"visits": 1}  # read-only: one round trip, no write
    assert commands.delta() == READ
    browser.post("/login", name="Bo")
    logged_in = browser.session_id()
    assert redis_client.keys("demo:*") == [f"demo:{logged_in}".encode()]
    browser.post("/logout")  # deletes the session; the redirect to / starts a new one
    assert redis_client.keys("demo:*") == [f"demo:{browser.session_id()}".encode()]
    assert browser.session_id() != logged_in


def test_logout_leaves_no_session_and_expires_the_cookie(start_demo, redis_server, redis_client):
    """The logout response itself: the key deleted, nothing written in its place, the cookie expired."""
    demo = start_demo("--port", "0", "--url", f"redis://{redis_server.host}:{redis_server.port}/0")
    base, _ = demo.started()
    browser = Browser(base)
    browser.post("/login", name="Cy")
    logged_in = browser.session_id()
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=10)
    connection.request("POST", "/logout", headers={"Cookie": f"sid={logged_in}"})
    response = connection.getresponse()  # not followed: the logout response alone
    response.read()
    connection.close()
    assert (response.status, response.headers["Location"]) == (303, "/")
    (cookie,) = response.headers.get_all("Set-Cookie")
    assert cookie.startswith("sid=;") and "Max-Age=0" in cookie
    assert redis_client.keys("demo:*") == []
    assert raw_get(base + "session")[2] == "{}"  # a browser without a cookie: no session
    assert redis_client.keys("demo:*") == []
    assert demo.stop() == 0


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


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_port_out_of_range_is_one_line_on_stderr(tmp_path, port):
    result = subprocess.run(
        [sys.executable, "-m", "hug_store_redis", "demo", "--port", port],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"hug-store-redis demo: --port must be between 0 and 65535, got {port}"
    ]


def raw_get(url, method="GET", cookie=None):
    """(status, headers, body) without following redirects or raising on 4xx/5xx."""
    request = urllib.request.Request(url, method=method, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read().decode()


def test_unknown_url_is_a_small_404_page_and_the_favicon_an_svg(start_demo, redis_server, redis_client):
    demo = start_demo("--port", "0", "--url", f"redis://{redis_server.host}:{redis_server.port}/0")
    base, _ = demo.started()
    for method in ("GET", "POST"):
        status, headers, body = raw_get(base + "no/such/page", method=method)
        assert (status, headers["Content-Type"]) == (404, "text/html; charset=utf-8")
        assert "<h1>Not found</h1>" in body and 'href="/"' in body
        assert "documentation" not in body and len(body) < 2000  # not hug's API documentation
    status, headers, body = raw_get(base + "favicon.ico")
    assert (status, headers["Content-Type"]) == (200, "image/svg+xml")
    assert body.startswith("<svg") and body.endswith("</svg>")
    assert redis_client.keys("demo:*") == []  # neither creates a session
    _, _, page = raw_get(base)
    assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in page


def run_cli(command):
    """A command line as the banner prints it, run verbatim, from a shell-less PATH-less start."""
    return subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, env={})


def test_banner_names_the_url_and_namespace_the_sessions_cli_needs(start_demo):
    demo = start_demo("--port", "0")
    base, where = demo.started()
    inspect = demo.line()
    port = re.search(r"embedded redis-server [\d.]+ \(/\S+\) on 127\.0\.0\.1:(\d+)", where).group(1)
    url = f"redis://127.0.0.1:{port}/0"
    script = Path(sys.executable).with_name("hug-store-redis")
    command = f"{script} sessions ls --url {url} --namespace demo"
    assert inspect == f"namespace demo on {url}; see them: {command}"
    browser = Browser(base)
    browser.get("/")
    listed = run_cli(command)
    assert (listed.returncode, listed.stdout.split()) == (0, [browser.session_id()])


def test_banner_masks_the_password(start_demo, redis_server, redis_client):
    redis_client.acl_setuser("demo-user", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"])
    try:
        url = f"redis://demo-user:s3cret@{redis_server.host}:{redis_server.port}/0"
        demo = start_demo("--port", "0", "--url", url)
        base, where = demo.started()
        inspect = demo.line()
        masked = f"redis://demo-user:***@{redis_server.host}:{redis_server.port}/0"
        assert where == f"sessions in Redis: {masked}; Ctrl-C to stop"
        assert "s3cret" not in where + inspect
        browser = Browser(base)
        browser.get("/")
        # The command is runnable as printed: the URL comes from REDIS_URL, not a masked copy.
        prefix = (
            f"namespace demo on {masked}; see them (with REDIS_URL holding that URL, password included): "
        )
        assert inspect.startswith(prefix)
        command = inspect.removeprefix(prefix)
        assert "***" not in command and '--url "$REDIS_URL"' in command
        listed = subprocess.run(
            command, shell=True, capture_output=True, text=True, timeout=60, env={"REDIS_URL": url}
        )
        assert (listed.returncode, listed.stdout.split()) == (0, [browser.session_id()]), listed.stderr
    finally:
        redis_client.acl_deluser("demo-user")


def test_metrics_is_the_prometheus_exposition_of_both_stores(start_demo, redis_server, redis_client):
    demo = start_demo("--port", "0", "--url", f"redis://{redis_server.host}:{redis_server.port}/0")
    base, _ = demo.started()
    browser = Browser(base)
    page = browser.get("/")
    assert '<a href="/metrics">' in page
    browser.post("/cart", item="pear")
    status, headers, body = raw_get(base + "metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    samples = dict(line.rsplit(" ", 1) for line in body.splitlines() if line and not line.startswith("#"))
    assert float(samples['hug_store_redis_creates_total{namespace="demo"}']) == 1
    # created; the cart; the page the form's redirect lands on, dropping the form's flag
    assert float(samples['hug_store_redis_writes_total{namespace="demo"}']) == 3
    assert 'hug_store_redis_writes_total{namespace="demo-lww"}' in samples
    assert float(samples['hug_store_redis_write_attempts_count{namespace="demo"}']) == 2
    assert redis_client.keys("demo:*") == [f"demo:{browser.session_id()}".encode()]  # no session of its own


@pytest.mark.parametrize("loaded_before", [False, True], ids=["fresh", "after-another-import"])
def test_metrics_without_prometheus_client_says_what_to_install(monkeypatch, redis_client, loaded_before):
    """Also where prometheus_client's submodules were imported before: only the top was hidden."""
    if loaded_before:
        importlib.import_module("prometheus_client.core")
    else:
        for name in [name for name in sys.modules if name.startswith("prometheus_client.")]:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "hug_store_redis.metrics.prometheus", raising=False)
    response = hug.test.get(build_api(RedisStore(redis_client, namespace="demo")), "/metrics")
    assert response.status == "501 Not Implemented"
    assert "pip install 'hug_store_redis[prometheus]'" in response.data


def test_redis_down_is_a_503_page_and_one_log_line_per_request(start_demo):
    with EmbeddedRedis() as server:
        demo = start_demo("--port", "0", "--url", server.url)
        base, _ = demo.started()
        browser = Browser(base)
        assert visits(browser.get("/")) == 1
    cookie = f"sid={browser.session_id()}"
    requests = [("GET", "", cookie), ("GET", "", None), ("POST", "login", cookie), ("GET", "session", cookie)]
    for method, path, sent in requests:
        status, headers, body = raw_get(base + path, method=method, cookie=sent)
        assert (status, headers["Content-Type"], headers["Retry-After"]) == (
            503,
            "text/html; charset=utf-8",
            "5",
        )
        assert "<h1>Session store unavailable</h1>" in body and 'on_error="degrade"' in body
    assert demo.stop() == 0
    *logged, last = demo.errors
    assert last == "hug-store-redis demo: stopping on SIGINT"
    for line, (method, path, _) in zip(logged, requests, strict=True):  # one line each, no traceback
        assert line.startswith(
            f"hug-store-redis demo: [demo] {method} /{path}: 503, session store unavailable: "
        )


def test_devices_parallel_carts_and_the_cost_of_the_previous_request(start_demo, redis_server, redis_client):
    url = f"redis://{redis_server.host}:{redis_server.port}/0"
    demo = start_demo("--port", "0", "--url", url)
    base, _ = demo.started()
    laptop, phone = Browser(base), Browser(base)
    laptop.post("/login", name="Ann")
    page = phone.post("/login", name="Ann")
    assert page.count("<tr><td title=") == 2 and page.count('<span class="badge">this browser</span>') == 1
    (handle,) = re.findall(r'name="handle" value="([^"]+)"', page)
    assert "POST /login" in page and "<code>SET</code>" in page  # what the login cost Redis
    page = phone.post("/devices/sign-out", handle=handle)
    assert page.count("<tr><td title=") == 1
    assert "Log in" in laptop.get("/")  # the laptop's session is gone: a fresh one

    for _ in range(20):
        phone.post("/api/cart", item="plum", mode="cas")
    assert json.loads(phone.get("/api/carts")) == {"cart": {"plum": 20}, "lww": {}}
    phone.post("/api/cart", item="pear", mode="lww")
    assert json.loads(phone.get("/api/carts"))["lww"] == {"pear": 1}
    assert redis_client.keys("demo-lww:*") == [f"demo-lww:{phone.session_id()}".encode()]
    assert "Log in" not in phone.post("/cart/clear")
    assert json.loads(phone.get("/api/carts")) == {"cart": {}, "lww": {}}
    assert demo.stop() == 0


@pytest.mark.parametrize(
    ("base", "mine", "theirs", "merged"),
    [
        pytest.param(
            {"cart": {"apple": 1}, "visits": 2},
            {"cart": {"apple": 2, "pear": 1}, "visits": 2},
            {"cart": {"apple": 3, "plum": 1}, "visits": 3, "user": "Ann"},
            {"cart": {"apple": 4, "plum": 1, "pear": 1}, "visits": 3, "user": "Ann"},
            id="both-added",
        ),
        pytest.param(
            {"cart": {"apple": 1}},
            {"cart": {"apple": 2}},
            {"user": "Ann"},
            {"cart": {"apple": 1}, "user": "Ann"},
            id="they-emptied-the-cart",
        ),
        pytest.param({"cart": {"apple": 1}}, {}, {"cart": {"apple": 2}}, {}, id="this-request-emptied-it"),
        pytest.param(
            {"cart": {"apple": 1}},
            {"cart": {"apple": 1}, "visits": 1},
            {"cart": {"apple": 5}},
            {"cart": {"apple": 5}, "visits": 1},
            id="cart-untouched",
        ),
    ],
)
def test_merge_carts_adds_this_requests_items_to_theirs_and_rebases_the_rest(base, mine, theirs, merged):
    assert merge_carts(base, mine, theirs) == merged


def test_overlapping_adds_to_cart_all_land_through_the_session(redis_client, monkeypatch):
    """Every handler has read the session before any of them writes: all but the first write conflict.

    Six at once, as many connections as Chromium opens to one host.
    """
    overlapping = 6
    everyone_has_read = threading.Barrier(overlapping, timeout=10)
    monkeypatch.setattr(demo_app, "_work", everyone_has_read.wait)
    store = RedisStore(redis_client, namespace="demo")
    httpd = make_server(build_api(store), "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        browser = Browser(f"http://127.0.0.1:{httpd.server_port}/")
        browser.get("/")  # a session to add to
        with ThreadPoolExecutor(overlapping) as pool:
            added = list(
                pool.map(lambda _: browser.post("/api/cart", item="plum", mode="cas"), range(overlapping))
            )
        assert added == ["true"] * overlapping
        assert browser.session()["cart"] == {"plum": overlapping}
        assert store.stats()["conflicts"] >= overlapping - 1
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def redis_dump(client) -> list[bytes]:
    """Every key and value in the database, as a dump of it would hold them."""
    dump = []
    for key in client.keys("*"):
        dump.append(key)
        if client.type(key) == b"hash":
            dump.extend(part for item in client.hgetall(key).items() for part in item)
        else:
            dump.append(client.get(key))
    return dump


def test_demo_with_key_secrets_shows_handles_and_redis_holds_no_id(
    start_demo, redis_server, redis_client, monkeypatch, tmp_path
):
    """Before the demo read HUG_STORE_REDIS_KEY_SECRETS, the page showed the id and Redis held
    it in every key."""
    secret = bytes(range(32))
    monkeypatch.setenv("HUG_STORE_REDIS_KEY_SECRETS", secret.hex())
    url = f"redis://{redis_server.host}:{redis_server.port}/0"
    demo = start_demo("--port", "0", "--url", url)
    base, _ = demo.started()
    inspect = demo.line()
    laptop, phone = Browser(base), Browser(base)
    laptop.post("/login", name="Ann")
    phone.post("/login", name="Ann")
    phone.post("/api/cart", item="pear", mode="lww")  # the side-by-side store too
    page = phone.get("/")
    ids = [laptop.session_id(), phone.session_id()]
    store = RedisStore(redis_client, namespace="demo", key_secrets=[secret])
    handles = sorted(store.namespaced_key(sid).removeprefix(b"demo:").decode() for sid in ids)
    assert shown_id(page) == store.namespaced_key(ids[1]).removeprefix(b"demo:").decode()[:8]
    dump = redis_dump(redis_client)
    assert len(dump) >= 6
    for sid in ids:
        assert sid[:8] not in page
        assert not any(sid.encode() in part for part in dump)
    command = inspect.split(": ", 1)[1]
    assert "(with the demo's HUG_STORE_REDIS_* secrets)" in inspect
    listed = subprocess.run(shlex.split(command), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (listed.returncode, sorted(listed.stdout.split())) == (0, handles), listed.stderr
    assert demo.stop() == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [("not-hex", "must be comma-separated hex strings"), ("ab" * 8, "each needs at least 32")],
)
def test_bad_key_secrets_are_one_line_on_stderr(tmp_path, redis_server, value, message):
    result = subprocess.run(
        [sys.executable, "-m", "hug_store_redis", "demo", "--port", "0"],
        cwd=tmp_path,
        env={
            **os.environ,
            "REDIS_URL": f"redis://{redis_server.host}:{redis_server.port}/0",
            "HUG_STORE_REDIS_KEY_SECRETS": value,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (2, "")
    (line,) = result.stderr.splitlines()
    assert line.startswith("hug-store-redis demo: ") and message in line
