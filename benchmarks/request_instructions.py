"""Instructions per hug request, counted by callgrind: the steady figure beside the timed ratios.

Timed ratios on this shared machine move by 10-20% between runs; callgrind counts the
instructions the interpreter executes, which do not depend on what else runs. Each variant
runs the same prebuilt WSGI app (benchmarks/test_bench_cache.py's ``read_only_app``) for
``--few`` and ``--many`` requests under ``valgrind --tool=callgrind``; the difference divided
by the extra requests is the cost of one request, start-up excluded.

- ``no-sessions``: the app without middleware;
- ``cached-session``: ``RedisSessionMiddleware`` on a ``local_cache=True`` store, every read
  a cache hit (the run asserts it);
- ``cached-session-metrics``: ``cached-session`` with a ``PrometheusCollector`` registered and
  ``instrument`` on an OpenTelemetry meter provider, scraped once after the requests: the
  exporters read the counts the store keeps anyway, so a request should cost the same;
- ``cached-session-protected``: ``cached-session`` on a store with ``key_secrets`` (two: a
  rotation under way, the session already under the newest) and ``encryption_keys``: each
  request computes the HMAC of its id and opens the AES-GCM value the cache holds;
- ``session``, ``session-protected``: the same two stores without the local cache, every
  read a round trip to Redis (the server not traced);
- ``own-cost-cython``, ``own-cost-python``: the middleware with Redis stubbed out
  (benchmarks/test_bench_middleware.py's ``StubbedReadStore``), per codec twin;
- ``modify-cache-off``, ``modify-cache-on``: a request that changes its session (a read and
  a compare-and-set write on every request; benchmarks/test_bench_middleware.py's app) on a
  store with ``local_cache`` off and on: what the cache adds to a write, the listener
  thread's handling of the write's own invalidation included.

Command: ``.venv/bin/python benchmarks/request_instructions.py`` (needs valgrind:
``apt-get install valgrind``; ``--variants cached-session cached-session-metrics`` runs only
those; ``--variants cached-session cached-session-protected session session-protected`` the
key_secrets/encryption_keys comparison). The embedded redis-server is not traced.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIANTS = (
    "no-sessions",
    "cached-session",
    "cached-session-metrics",
    "cached-session-protected",
    "session",
    "session-protected",
    "own-cost-cython",
    "own-cost-python",
)
PROTECTED = {"key_secrets": [b"n" * 32, b"o" * 32], "encryption_keys": [bytes(range(32))]}
"""The options of the ``-protected`` variants."""
CACHE_COST_VARIANTS = ("modify-cache-off", "modify-cache-on")
"""The local cache's cost on a write (issue 24): apart, so other variants merge in beside them."""
VARIANTS += CACHE_COST_VARIANTS
HERE = Path(__file__).resolve().parent


def run_requests(variant: str, requests: int) -> None:
    """The traced part: build the app for ``variant`` and call it ``requests`` times."""
    sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
    if variant in CACHE_COST_VARIANTS:
        run_modifying_requests(variant, requests)
        return
    import falcon.testing
    import redis
    from support.twins import twin_module
    from test_bench_cache import read_only_app
    from test_bench_middleware import StubbedReadStore

    from hug_store_redis import RedisStore, codec
    from hug_store_redis.cli.embedded import EmbeddedRedis
    from hug_store_redis.sessions import RedisSessionMiddleware, new_session_id

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        assert status == "200 OK", status

    data = {"user": "foo", "cart": [1, 2, 3], "csrf": "0123456789abcdef"}
    session_id = new_session_id()
    with EmbeddedRedis() as server:
        client = redis.Redis(port=server.port)
        store = None
        scrape = None
        protection: dict[str, Any] = PROTECTED if variant.endswith("-protected") else {}
        if variant in ("session", "session-protected"):
            store = RedisStore(client, namespace="instructions", **protection)
            store.set(session_id, data)
        elif variant.startswith("cached-session"):
            store = RedisStore(client, namespace="instructions", local_cache=True, **protection)
            store.set(session_id, data)
            while store.stats()["cache_hits"] == 0:  # until the listener serves
                store.get(session_id)
                time.sleep(0.01)
            if variant == "cached-session-metrics":
                scrape = with_metrics(store)
        elif variant.startswith("own-cost-"):
            codec.Codec = twin_module(variant.removeprefix("own-cost-")).Codec
            store = StubbedReadStore(client, namespace="instructions")
            store.payloads[session_id] = store.encode(data)
        middleware = None if store is None else RedisSessionMiddleware(store, cookie_secure=False)
        app = read_only_app(middleware)
        headers = {} if store is None else {"Cookie": f"sid={session_id}"}
        environ = falcon.testing.create_environ(path="/read", headers=headers)
        misses = 0 if store is None else store.stats()["cache_misses"]
        for _ in range(requests):
            b"".join(app(dict(environ), start_response))
        if scrape is not None:
            scrape()  # once per run, whatever the number of requests: out of the per-request figure
        if variant.startswith("cached-session"):
            # Valgrind slows the listener's heartbeat past its lease now and then: the cache
            # then stops serving for a moment (fail closed) and a few reads go to Redis.
            print(f"cache misses: {store.stats()['cache_misses'] - misses}", file=sys.stderr)
            store.close()


def run_modifying_requests(variant: str, requests: int) -> None:
    """``requests`` session-changing requests on one session, the cache off or on (then serving)."""
    import falcon.testing
    import redis
    from test_bench_middleware import build_app

    from hug_store_redis import RedisStore
    from hug_store_redis.cli.embedded import EmbeddedRedis
    from hug_store_redis.sessions import RedisSessionMiddleware, new_session_id

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        assert status == "200 OK", status

    session_id = new_session_id()
    with EmbeddedRedis() as server:
        store = RedisStore(redis.Redis(port=server.port), "instructions", local_cache=variant.endswith("-on"))
        store.set(session_id, {"counter": 0})
        while variant.endswith("-on") and store.stats()["cache_hits"] == 0:  # until the listener serves
            store.get(session_id)
            time.sleep(0.01)
        app = build_app(RedisSessionMiddleware(store, cookie_secure=False))
        environ = falcon.testing.create_environ(path="/modify", headers={"Cookie": f"sid={session_id}"})
        for _ in range(requests):
            b"".join(app(dict(environ), start_response))
        assert store.get(session_id)["counter"] == requests
        if variant.endswith("-on"):
            time.sleep(0.2)  # the last writes' invalidations are read inside the traced run
            print(f"cache misses: {store.stats()['cache_misses']}", file=sys.stderr)
        store.close()


def with_metrics(store: object) -> "Callable[[], object]":
    """Both exporters on ``store``; a scrape of both."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from prometheus_client import CollectorRegistry, generate_latest

    from hug_store_redis.metrics import PrometheusCollector, instrument

    registry = CollectorRegistry()
    registry.register(PrometheusCollector(store))
    reader = InMemoryMetricReader()
    instrument(store, MeterProvider(metric_readers=[reader]))

    def scrape() -> object:
        assert b"hug_store_redis_cache_hits_total" in generate_latest(registry)
        return reader.get_metrics_data()

    return scrape


def instructions(variant: str, requests: int) -> tuple[int, int]:
    """(instructions, cache misses) of one traced run."""
    with tempfile.TemporaryDirectory() as directory:
        completed = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={directory}/callgrind.out",
                sys.executable,
                __file__,
                "--trace",
                variant,
                str(requests),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    found = re.search(r"Collected : (\d+)", completed.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind:\n{completed.stderr[-2000:]}")
    missed = re.search(r"cache misses: (\d+)", completed.stderr)
    return int(found.group(1)), int(missed.group(1)) if missed else 0


def main() -> None:
    if sys.argv[1:2] == ["--trace"]:
        run_requests(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--few", type=int, default=2000)
    parser.add_argument("--many", type=int, default=12000)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    options = parser.parse_args()
    per_request, misses = {}, {}
    for variant in ("no-sessions", *(v for v in options.variants if v != "no-sessions")):
        few, few_misses = instructions(variant, options.few)
        many, many_misses = instructions(variant, options.many)
        per_request[variant] = (many - few) / (options.many - options.few)
        misses[variant] = few_misses + many_misses
    baseline = per_request["no-sessions"]
    for variant, count in per_request.items():
        missed = f"  ({misses[variant]} cache misses)" if variant.startswith("cached-session") else ""
        ratio = count / baseline
        print(f"{variant:22} {count:9,.0f} instructions per request  {ratio:.3f}x no-sessions{missed}")
    if "modify-cache-off" in per_request and "modify-cache-on" in per_request:
        ratio = per_request["modify-cache-on"] / per_request["modify-cache-off"]
        print(f"modifying request, local_cache on / off: {ratio:.3f}x (goal 1.1x)")
    if "cached-session" in per_request and "cached-session-metrics" in per_request:
        ratio = per_request["cached-session-metrics"] / per_request["cached-session"]
        print(f"metrics on / off, read-only cached request: {ratio:.4f}x (limit 1.02x)")
    for plain in ("cached-session", "session"):
        if plain in per_request and f"{plain}-protected" in per_request:
            ratio = per_request[f"{plain}-protected"] / per_request[plain]
            print(f"key_secrets + encryption_keys on / off, read-only {plain}: {ratio:.4f}x (target 1.10x)")


if __name__ == "__main__":
    main()
