"""One hug request with and without sessions: prebuilt WSGI apps called directly, no HTTP.

Groups ``middleware-read-only`` and ``middleware-modify`` compare, on a redis-server this
file starts itself (EmbeddedRedis):

- ``no-sessions``: the same app without session middleware (the floor);
- ``stock+1.0.0``: hug's ``SessionMiddleware`` with the hug_store_redis 1.0.0 store;
- ``stock+ours``: hug's ``SessionMiddleware`` with today's ``RedisStore``;
- ``ours``: ``RedisSessionMiddleware``;
- ``redis-round-trip`` (read-only group): one bare GETEX through redis-py, no app at all,
  so ``ours`` can be read as ``no-sessions`` + one round trip + the middleware's own cost.

Group ``middleware-own-cost`` takes Redis out: the store's read returns the stored bytes
without a round trip, so what is left over ``no-sessions`` is the middleware's own work
(cookie, id, decode, change detection, state), for each codec twin (``cython``,
``python``), beside ``do-nothing``, a middleware with empty hooks (the framework's price
for having any middleware at all). ``ours-python`` in ``middleware-read-only`` is the
same request as ``ours`` on the pure twin, with the real round trip.

Targets (medians within one run): ours read-only <= 2.5x no-sessions; ours / stock <= 0.25;
own cost (stubbed Redis) <= 1.25x no-sessions on either twin.
"""

import json
import uuid

import falcon.testing
import hug
import pytest
import redis
from hug.middleware import SessionMiddleware
from support.legacy_release import load_legacy_module
from support.twins import store_on, twin_module

import hug_store_redis.codec
from hug_store_redis import RedisStore
from hug_store_redis.cli.embedded import EmbeddedRedis
from hug_store_redis.sessions import RedisSessionMiddleware, new_session_id

VARIANTS = ("no-sessions", "stock+1.0.0", "stock+ours", "ours", "ours-python")
OWN_COST_VARIANTS = ("no-sessions", "do-nothing", "cython", "python")


@pytest.fixture(scope="module")
def client():
    with EmbeddedRedis() as server:
        connection = redis.Redis(host=server.host, port=server.port)
        yield connection
        connection.close()


def build_app(middleware, modify_handler=None):
    """A prebuilt WSGI callable with /read and /modify, like a small real handler.

    ``modify_handler`` replaces the /modify handler (a session-less app changes other state).
    """
    api = hug.API(f"bench_middleware_{uuid.uuid4().hex}")
    if middleware is not None:
        api.http.add_middleware(middleware)

    def read(request):
        return {"counter": request.context.get("session", {}).get("counter", 0)}

    def modify(request):
        session = request.context.get("session", {})
        session["counter"] = session.get("counter", 0) + 1
        return {"counter": session["counter"]}

    hug.get("/read", api=api)(read)
    hug.get("/modify", api=api)(modify if modify_handler is None else modify_handler)
    return api.http.server()


@pytest.fixture(scope="module")
def apps(client):
    """(app, store) per variant; the store is None without sessions."""
    legacy = load_legacy_module().RedisStore(client, namespace="bench-legacy")
    ours = store_on("cython", client, namespace="bench-ours")
    ours_python = store_on("python", client, namespace="bench-ours-python")
    stock = RedisStore(client, namespace="bench-stock")
    return {
        "no-sessions": (build_app(None), None),
        "stock+1.0.0": (build_app(SessionMiddleware(legacy)), legacy),
        "stock+ours": (build_app(SessionMiddleware(stock)), stock),
        "ours": (build_app(RedisSessionMiddleware(ours)), ours),
        "ours-python": (build_app(RedisSessionMiddleware(ours_python)), ours_python),
    }


class StubbedReadStore(RedisStore):
    """Reads return the bytes last written, from a dict, without Redis; everything else is real."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.payloads = {}

    def read_payload(self, key, *, touch=False):
        return self.payloads.get(key)

    def sliding_reader(self, touch_after):
        def read(key):
            payload = self.payloads.get(key)
            return payload, -2 if payload is None else self.expiration * 1000, False

        return read


class DoNothingMiddleware:
    """Both hooks, no work: what any middleware costs a request."""

    def process_request(self, request, response):
        pass

    def process_response(self, request, response, resource, req_succeeded):
        pass


def stubbed_store(twin, client):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hug_store_redis.codec, "Codec", twin_module(twin).Codec)
        return StubbedReadStore(client, namespace=f"bench-stub-{twin}")


@pytest.fixture(scope="module")
def stubbed_apps(client):
    """(app, store) per own-cost variant; the stores never reach Redis on a read."""
    stubbed = {twin: stubbed_store(twin, client) for twin in ("cython", "python")}
    return {
        "no-sessions": (build_app(None), None),
        "do-nothing": (build_app(DoNothingMiddleware()), None),
        "cython": (build_app(RedisSessionMiddleware(stubbed["cython"])), stubbed["cython"]),
        "python": (build_app(RedisSessionMiddleware(stubbed["python"])), stubbed["python"]),
    }


def start_response(status, headers, exc_info=None):
    assert status == "200 OK", status


def request_runner(app, path, sid):
    headers = {"Cookie": f"sid={sid}"} if sid else {}
    environ = falcon.testing.create_environ(path=path, headers=headers)

    def run():
        return b"".join(app(dict(environ), start_response))

    return run


def run_variant(benchmark, apps, variant, path):
    app, store = apps[variant]
    sid = None
    if store is not None:
        sid = new_session_id()
        store.set(sid, {"counter": 1})
    run = request_runner(app, path, sid)
    assert b"counter" in run()
    benchmark(run)
    if store is not None:  # the session was found, not replaced: the benchmark measured real work
        assert store.get(sid)["counter"] >= 1


@pytest.mark.benchmark(group="middleware-read-only")
@pytest.mark.parametrize("variant", VARIANTS)
def test_read_only(benchmark, apps, variant):
    run_variant(benchmark, apps, variant, "/read")


@pytest.mark.benchmark(group="middleware-modify")
@pytest.mark.parametrize("variant", VARIANTS)
def test_modify(benchmark, apps, variant):
    run_variant(benchmark, apps, variant, "/modify")


@pytest.mark.benchmark(group="middleware-own-cost")
@pytest.mark.parametrize("variant", OWN_COST_VARIANTS)
def test_own_cost(benchmark, stubbed_apps, variant):
    """A read-only request whose session read costs no round trip."""
    app, store = stubbed_apps[variant]
    sid = None
    if store is not None:
        sid = new_session_id()
        store.payloads[sid] = store.encode({"counter": 1})
    run = request_runner(app, "/read", sid)
    assert json.loads(run()) == {"counter": 0 if store is None else 1}
    benchmark(run)
    if store is not None:  # read-only: nothing was written, so the stub never fell behind Redis
        assert store.stats()["writes"] == 0


@pytest.mark.benchmark(group="middleware-read-only")
def test_redis_round_trip(benchmark, client):
    key = "bench-round-trip:" + new_session_id()
    client.set(key, b'{"counter": 1}', ex=86400)
    assert benchmark(client.getex, key, ex=86400) == b'{"counter": 1}'
