"""Sign out everywhere with the local cache on: no app server keeps serving a session that ended.

Two app servers hold a user's sessions in their caches, each through its own listener: a second
process, or (through the middleware) a store on the Unix socket beside one on TCP. One of them
ends the sessions; the other waits for the invalidations by polling its counter (no sleep) and
must then serve none of them, while a session that did not end is still served from its cache.
"""

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import hug
import pytest
import redis
from support.servers import wait_for
from support.session_app import call, issued_id
from support.store_cache import GENEROUS, listeners_of, wait_cached

from hug_store_redis import RedisSessionMiddleware, RedisStore
from hug_store_redis.sessions import UserSessionIndex

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def namespace() -> str:
    return f"everywhere-{uuid.uuid4().hex[:8]}"


class AppServer:
    """``support.cached_app_server`` in a process of its own: its cache, its listener."""

    def __init__(self, port: int, namespace: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "support.cached_app_server", str(port), namespace],
            cwd=TESTS,  # support.* from here, hug_store_redis as installed
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._reply() == "ready"

    def ask(self, *words: object) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(" ".join(map(str, words)) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def _reply(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the process's own waits are bounded: EOF if it fails
        assert line, f"the app server process ended (exit code {self.process.poll()})"
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=GENEROUS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def test_sign_out_everywhere_empties_another_process_cache(redis_client, redis_server, namespace):
    store = RedisStore(redis_client, namespace, local_cache=True)
    index = UserSessionIndex(store)
    ann = [f"ann-{number}" for number in range(5)]
    for session_id in [*ann, "bob-0"]:
        store.set(session_id, {"sid": session_id})
        index.add(session_id.split("-")[0], session_id, user_agent="device")
    other = AppServer(redis_server.port, namespace)
    try:
        other.ask("cache", *ann, "bob-0")  # every session is a hit over there
        for session_id in ann:
            wait_cached(store, session_id)  # and here
        before = other.ask("invalidations")
        assert index.end_all("ann") == len(ann)
        assert [store.read_payload(session_id) for session_id in ann] == [None] * len(ann)  # here: at once
        other.ask("await_invalidations", before + len(ann))
        reads = other.ask("read", *ann, "bob-0")
        assert [reads[session_id] for session_id in ann] == [[None, False]] * len(ann)  # none, no hit
        assert reads["bob-0"] == [store.encode({"sid": "bob-0"}).decode(), True]  # still cached there
    finally:
        other.close()
        store.close()


def devices_app(middleware: RedisSessionMiddleware) -> hug.API:
    api = hug.API(f"everywhere_{uuid.uuid4().hex}")
    api.http.add_middleware(middleware)

    @hug.get("/login", api=api)
    def login(request, user: hug.types.text):
        middleware.regenerate(request)
        middleware.bind_user(request, user)
        request.context["session"]["user"] = user
        return "ok"

    @hug.get("/whoami", api=api)
    def whoami(request):
        return request.context["session"].get("user")

    @hug.get("/sign_out_everywhere", api=api)
    def sign_out_everywhere(request):
        ended = middleware.destroy_user_sessions(request.context["session"]["user"])
        middleware.destroy(request)
        return ended

    return api


def test_sign_out_everywhere_through_the_middleware_reaches_the_other_app_server(
    redis_client, redis_server, namespace
):
    store_a = RedisStore(redis_client, namespace, local_cache=True)
    unix_client = redis.Redis(unix_socket_path=redis_server.unixsocket, socket_timeout=5)
    store_b = RedisStore(unix_client, namespace, local_cache=True)
    try:
        assert listeners_of(store_a)[0] is not listeners_of(store_b)[0]  # two app servers' listeners
        server_a = devices_app(RedisSessionMiddleware(store_a, cookie_secure=False))
        server_b = devices_app(RedisSessionMiddleware(store_b, cookie_secure=False))
        devices = [issued_id(call(server_a, "/login", user="ann")) for _ in range(3)]
        other_user = issued_id(call(server_a, "/login", user="bob"))
        for session_id in [*devices, other_user]:
            assert call(server_b, "/whoami", session_id).data == call(server_a, "/whoami", session_id).data
            wait_cached(store_b, session_id)
            wait_cached(store_a, session_id)
        before = store_b.stats()["invalidations"]
        assert call(server_a, "/sign_out_everywhere", devices[0]).data == len(devices)
        wait_for(
            "server B to hear of every ended session",
            lambda: store_b.stats()["invalidations"] >= before + len(devices),
            GENEROUS,
        )
        hits = store_b.stats()["cache_hits"]
        assert [call(server_b, "/whoami", session_id).data for session_id in devices] == [None] * len(devices)
        assert call(server_b, "/whoami", other_user).data == "bob"
        assert store_b.stats()["cache_hits"] == hits + 1  # bob's, from B's cache; none of ann's
        assert [call(server_a, "/whoami", session_id).data for session_id in devices] == [None] * len(devices)
    finally:
        store_a.close()
        store_b.close()
        unix_client.close()
