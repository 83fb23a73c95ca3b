"""What binding a session to a user (signed-in devices) costs a read-only request.

Group ``devices-read-only``, on the cython twin against a real redis-server, prebuilt WSGI
apps called directly: ``unbound`` (a plain session), ``unbound-same-bytes`` (as large as a
bound one, to tell the hook from the bytes), ``bound`` (the same session bound with
``bind_user``; no touch is due, so last seen is not written: still the one read). Last
seen is written only with the lazy touch, at most once per ``touch_after`` per session.

Target: ``bound`` / ``unbound`` <= 1.05 (medians of one run).
"""

import uuid

import falcon.testing
import hug
import pytest
from support.twins import store_on

from hug_store_redis.sessions import BOUND_KEY, RedisSessionMiddleware

VARIANTS = ("unbound", "unbound-same-bytes", "bound")


def start_response(status, headers, exc_info=None):
    assert status == "200 OK", status


@pytest.fixture(scope="module")
def apps(bench_client):
    built = {}
    for variant in VARIANTS:
        store = store_on("cython", bench_client, namespace=f"bench-devices-{variant}")
        middleware = RedisSessionMiddleware(store)
        api = hug.API(f"bench_devices_{uuid.uuid4().hex}")
        api.http.add_middleware(middleware)
        hug.get("/read", api=api)(lambda request: {"counter": request.context["session"].get("counter", 0)})
        built[variant] = (api.http.server(), middleware)
    return built


@pytest.mark.benchmark(group="devices-read-only")
@pytest.mark.parametrize("variant", VARIANTS)
def test_read_only(benchmark, apps, variant):
    app, middleware = apps[variant]
    sid = uuid.uuid4().hex + "x" * 11  # 43 URL-safe characters, like an issued id
    session = {"counter": 1}
    if variant.startswith("bound"):
        handle = middleware.user_index.add("ann", sid, user_agent="bench")
        session[BOUND_KEY] = {"user": "ann", "handle": handle}
    elif variant == "unbound-same-bytes":  # the binding's bytes under another key: no hook runs
        session["hug_store_redis.usex"] = {"user": "ann", "handle": "h" * 16}
    middleware.store.set(sid, session)
    environ = falcon.testing.create_environ(path="/read", headers={"Cookie": f"sid={sid}"})

    def run():
        return b"".join(app(dict(environ), start_response))

    assert run() == b'{"counter":1}'
    benchmark(run)
    assert middleware.store.stats()["writes"] == 1  # read-only: only the setup wrote
