"""Overlapping requests on demand: handlers that hold until the test lets them finish.

Each gated handler changes its session, reports that it has read it (``arrived``) and then
waits for ``go``. The test starts several requests, waits until all of them have read the
session, and releases them one at a time, so every later write meets a session another
request changed after it was read.
"""

import http.cookiejar
import json
import threading
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import hug

WAIT_S = 10.0


class Gates:
    """One pair of events per named request."""

    def __init__(self):
        self._gates = {}
        self._lock = threading.Lock()

    def __getitem__(self, name):
        with self._lock:
            return self._gates.setdefault(name, (threading.Event(), threading.Event()))

    def hold(self, name):
        if name:
            arrived, go = self[name]
            arrived.set()
            assert go.wait(WAIT_S), f"request {name!r} was never released"


def gated_api(middleware, gates):
    """Handlers that each make one kind of change and then hold at their gate."""
    api = hug.API(f"overlap_{uuid.uuid4().hex}")
    api.http.add_middleware(middleware)

    def session_of(request):
        return request.context["session"]

    @hug.get("/read", api=api)
    def read(request):
        return dict(session_of(request))

    @hug.get("/set", api=api)
    def set_key(request, key: str, value: str, gate: str = ""):
        session_of(request)[key] = value
        gates.hold(gate)
        return "ok"

    @hug.get("/append", api=api)
    def append(request, key: str, value: str, gate: str = ""):
        session_of(request).setdefault(key, []).append(value)
        gates.hold(gate)
        return "ok"

    @hug.get("/delete", api=api)
    def delete(request, key: str, gate: str = ""):
        session_of(request).pop(key, None)
        gates.hold(gate)
        return "ok"

    @hug.get("/logout", api=api)
    def logout(request, gate: str = ""):
        gates.hold(gate)
        middleware.destroy(request)
        return "ok"

    @hug.get("/login", api=api)
    def login(request, user: str, gate: str = ""):
        gates.hold(gate)
        middleware.regenerate(request)
        session_of(request)["user"] = user
        return "ok"

    return api


class Browser:
    """A cookie-keeping HTTP client, like a browser tab; safe to use from several threads."""

    def __init__(self, base, jar=None):
        """``jar``: another tab's cookies (the same browser on another app server)."""
        self.base = base
        self.jar = http.cookiejar.CookieJar() if jar is None else jar
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path, **params):
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with self._opener.open(url, timeout=WAIT_S) as response:
            return json.loads(response.read())

    def session_id(self):
        (cookie,) = self.jar
        return cookie.value


def get_with_cookie(base, path, sid):
    """One request carrying ``sid`` whatever any jar holds: a tab still on an old cookie."""
    request = urllib.request.Request(f"{base}{path}", headers={"Cookie": f"sid={sid}"})
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        return json.loads(response.read()), response.headers.get_all("Set-Cookie") or []


def overlap(browser, gates, *requests):
    """Run ``(gate, path, params)`` requests together; once all have read the session, release
    them in the order given, each finishing before the next is let go."""
    with ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(browser.get, path, gate=gate, **params) for gate, path, params in requests]
        for gate, _, _ in requests:
            arrived, _ = gates[gate]
            assert arrived.wait(WAIT_S), f"request {gate!r} never reached its handler"
        results = []
        for (gate, _, _), future in zip(requests, futures, strict=True):
            _, go = gates[gate]
            go.set()
            results.append(future.result(timeout=WAIT_S))
    return results


class Tabs:
    """Requests from several browser tabs at once, each held at a gate named after its tab."""

    def __init__(self, tabs):
        self.tabs = tabs
        self.pool = ThreadPoolExecutor(len(tabs))
        self.futures = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.pool.shutdown(wait=True)

    def start(self, tab, path, **params):
        self.futures[tab] = self.pool.submit(self.tabs[tab].get, path, gate=tab, **params)

    def wait_arrived(self, gates, *tabs):
        for tab in tabs:
            assert gates[tab][0].wait(WAIT_S), f"{tab} never reached its handler"

    def release(self, gates, tab):
        gates[tab][1].set()
        return self.futures[tab].result(timeout=WAIT_S)
