"""CPU a writing request costs with the local cache on and off, split by thread.

Every write to a tracked key makes Redis push an invalidation to every listening process, so
each write wakes the listener thread of each of them. This measures that price in one
process: a prebuilt hug app whose handler increments the session's counter (a
compare-and-set write on every request), called in a loop on one thread against an embedded
redis-server; CPU from ``getrusage`` for the request thread, and the whole process's less
that for the listener.

Command: ``.venv/bin/python scripts/cache_write_cpu.py [--requests N]``
"""

import argparse
import resource
import time
import uuid
from typing import Any

import falcon.testing
import hug
import redis

from hug_store_redis import RedisStore
from hug_store_redis.cli.embedded import EmbeddedRedis
from hug_store_redis.sessions import RedisSessionMiddleware, new_session_id


def writing_app(store: RedisStore) -> Any:
    api = hug.API(f"write_cpu_{uuid.uuid4().hex}")
    api.http.add_middleware(RedisSessionMiddleware(store, cookie_secure=False))

    @hug.get("/modify", api=api)
    def modify(request) -> str:  # type: ignore[no-untyped-def]  # noqa: ANN001 (hug reads annotations as input types)
        session = request.context["session"]
        session["counter"] = session.get("counter", 0) + 1
        return "ok"

    return api.http.server()


def measure(port: int, cached: bool, requests: int) -> tuple[float, float, int]:
    """(request thread µs, listener µs, invalidations) per request."""
    store = RedisStore(redis.Redis(port=port), namespace=f"cpu-{cached}", local_cache=cached)
    session_id = new_session_id()
    store.set(session_id, {"counter": 0})
    app = writing_app(store)
    environ = falcon.testing.create_environ(path="/modify", headers={"Cookie": f"sid={session_id}"})

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        assert status == "200 OK", status

    for _ in range(200):  # warm-up; the cache's listener is serving by the end
        b"".join(app(dict(environ), start_response))
    time.sleep(0.3)
    process_before, thread_before = time.process_time(), resource.getrusage(resource.RUSAGE_THREAD)
    for _ in range(requests):
        b"".join(app(dict(environ), start_response))
    time.sleep(0.3)  # the last invalidations are read
    thread_after, process_after = resource.getrusage(resource.RUSAGE_THREAD), time.process_time()
    thread = sum(after - before for after, before in zip(thread_after[:2], thread_before[:2], strict=True))
    assert store.get(session_id)["counter"] == requests + 200
    invalidations = store.stats()["invalidations"]
    store.close()
    per_request = 1e6 / requests
    return thread * per_request, (process_after - process_before - thread) * per_request, invalidations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    options = parser.parse_args()
    with EmbeddedRedis() as server:
        for cached in (False, True, False, True):
            thread, rest, invalidations = measure(server.port, cached, options.requests)
            label = "cache on " if cached else "cache off"
            print(
                f"{label}: request thread {thread:6.1f} µs, other threads {rest:6.1f} µs per writing "
                f"request ({invalidations} invalidations)"
            )


if __name__ == "__main__":
    main()
