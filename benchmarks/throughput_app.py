"""The app benchmarks/throughput.py drives: one hug handler behind waitress, in a process of its own.

``python benchmarks/throughput_app.py --variant cache-on --threads 4 --port P --redis-port R``
serves until it is terminated; ``--server gunicorn`` serves through gunicorn's ``gthread``
worker (one worker process, ``--threads`` threads) instead of waitress. Every variant runs
the same handlers; only the middleware differs, so the difference in requests per second is
what sessions cost:

- ``no-sessions``: no session middleware;
- ``cache-off``: ``RedisSessionMiddleware`` on a ``RedisStore`` (one Redis round trip a request);
- ``cache-on``: the same with ``local_cache=True`` (a cached session, inside ``touch_after``).

``GET /read`` answers 500 when a session variant did not find the session the driver wrote,
so every 200 that wrk counts is a request that really read it. ``GET /modify`` adds one to
the session's counter (a compare-and-set write on every request; overlapping requests on
one session conflict, and the merge hook adds their increments up). ``GET /_probe`` answers
the store's cache hits (``?write=1``: and changes the session). ``GET /_stats`` reports
the store's counters and how many times ``/modify`` ran, for the driver's checks.
"""

import argparse
import logging
import threading
import uuid
from typing import Any

import falcon
import hug
import redis
import waitress

from hug_store_redis import RedisSessionMiddleware, RedisStore

VARIANTS = ("no-sessions", "cache-off", "cache-on")
NAMESPACE = "throughput"
USER = "ada"
"""Every session the driver writes holds this user; a session variant that reads another answers 500."""


def add_counters(base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """The merge hook: overlapping increments add up (the default, this request wins, keeps one)."""
    merged = {**theirs, **mine}
    merged["counter"] = theirs.get("counter", 0) + mine.get("counter", 0) - base.get("counter", 0)
    return merged


def build_app(variant: str, redis_port: int) -> Any:
    api = hug.API(f"throughput_{uuid.uuid4().hex}")
    store = None
    if variant != "no-sessions":
        client = redis.Redis(host="127.0.0.1", port=redis_port)
        store = RedisStore(client, NAMESPACE, local_cache=variant == "cache-on")
        api.http.add_middleware(RedisSessionMiddleware(store, cookie_secure=False, merge=add_counters))
    expect_session = store is not None
    modified = [0]  # /modify calls, under modified_lock
    modified_lock = threading.Lock()

    @hug.get("/read", api=api)
    def read(request, response):  # no annotations: hug reads them as parameter types
        session = request.context.get("session", {})
        user = session.get("user")
        if expect_session and user != USER:
            response.status = falcon.HTTP_500
        return {"user": user, "counter": session.get("counter", 0)}

    @hug.get("/modify", api=api)
    def modify(request, response):
        session = request.context.get("session", {})
        if expect_session and session.get("user") != USER:
            response.status = falcon.HTTP_500
        session["counter"] = session.get("counter", 0) + 1
        with modified_lock:
            modified[0] += 1
        return {"counter": session["counter"]}

    @hug.get("/_probe", api=api)
    def probe(request, write=""):
        """For benchmarks/cache_write_to_hit.py: the store's cache hits so far (after this read),
        and with ``write=1`` a change to the session, written after the handler returns."""
        session = request.context.get("session", {})
        if write:
            session["counter"] = session.get("counter", 0) + 1
        return store.stats()["cache_hits"] if store is not None else 0

    @hug.get("/_stats", api=api)
    def stats():
        counts: dict[str, Any] = store.stats() if store is not None else {}
        cache = store.local_cache if store is not None else None
        counts["cache_serving"] = cache is not None and cache.serving
        counts["modify_calls"] = modified[0]
        return counts

    return api.http.server()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--server", choices=("waitress", "gunicorn"), default="waitress")
    arguments = parser.parse_args()
    if arguments.server == "gunicorn":
        serve_with_gunicorn(arguments.variant, arguments.threads, arguments.port, arguments.redis_port)
        return
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" under load
    server = waitress.create_server(
        build_app(arguments.variant, arguments.redis_port),
        host="127.0.0.1",
        port=arguments.port,
        threads=arguments.threads,
        backlog=1024,
        ident="throughput",
    )
    server.run()


def serve_with_gunicorn(variant: str, threads: int, port: int, redis_port: int) -> None:
    """One gthread worker; the app (and its store's listener thread) is built in it, after the fork."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {"bind": f"127.0.0.1:{port}", "workers": 1, "worker_class": "gthread"}
            settings.update(threads=threads, backlog=1024, keepalive=60, loglevel="warning")
            for name, value in settings.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            return build_app(variant, redis_port)

    Server().run()


if __name__ == "__main__":
    main()
