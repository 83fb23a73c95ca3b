"""Instructions per store call and per hug request, counted by valgrind: the steady figures
beside the timed ratios.

Timed ratios on this shared machine move by 10-20% between runs (the loopback round trip
alone moves between 25 and 160 us within a day); valgrind counts the instructions the
interpreter executes, which do not depend on what else runs. Each variant runs one call
(a store call or a prebuilt WSGI app's request) ``--few`` and ``--many`` times under
``valgrind --tool=cachegrind --cache-sim=no``; the difference divided by the extra calls is
the cost of one call, start-up excluded. The redis-server (started here, outside the
traced process) is not traced.

Store calls (small session, ``benchmarks/test_bench_store.py``'s data):
- ``socket-get``, ``socket-set``: the same GET / SET EX frame sent with ``sendall`` and its
  reply read with ``recv`` on a bare socket: the floor of any client;
- ``redis-py-get``, ``redis-py-set``: ``ujson.loads(r.get(k))``, ``r.set(k, ujson.dumps(d), ex=)``
  on a plain ``redis.Redis`` (hiredis), what a hand-written store does;
- ``store-get-*``, ``store-set-*``: ``RedisStore.get`` / ``set`` per codec twin (fast path);
- ``store-read-sliding-cython``: the middleware's session read alone (``sliding_reader(60)``,
  the READ_AND_TOUCH script, no touch due); ``fast-path-get``: a framed GET through the
  fast path as the store's read sends it (``FastPath.exchanger``: the compiled twin's
  ``exchange``), the transport's share of ``store.get``.

Requests (``benchmarks/test_bench_middleware.py``'s app: ``/read`` and ``/modify``):
- ``no-sessions``: ``/read`` without middleware; ``no-sessions-modify``: a handler that
  increments a counter in a module-level dict, the session-less way to change state;
- ``read-*``: ``RedisSessionMiddleware``, a read-only request, one round trip (the lazy
  sliding read); ``modify-*``: a request that changes the session: the read and a
  compare-and-set, two round trips;
- ``cached-read-*``, ``cached-modify-*``: the same on a ``local_cache=True`` store (a
  read is a hit, the run counts the misses);
- ``cached-session-metrics``: ``cached-read-cython`` with a ``PrometheusCollector`` registered
  and ``instrument`` on an OpenTelemetry meter provider, scraped once after the requests;
- ``own-cost-*``: the middleware with Redis stubbed out (``StubbedReadStore``), per twin;
- ``read-protected-cython``, ``cached-read-protected-cython``: ``read-cython`` and
  ``cached-read-cython`` on a store with ``key_secrets`` (two: a rotation under way, the
  session already under the newest) and ``encryption_keys``: each request maps its id to
  its handle and opens the AES-GCM value.

Command: ``.venv/bin/python benchmarks/request_instructions.py`` (needs valgrind;
``--variants read-cython no-sessions`` runs only those; ``--json FILE`` also writes the
figures for ``benchmarks/report.py``).
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

TWINS = ("cython", "python")
STORE_VARIANTS = (
    "socket-get",
    "socket-set",
    "redis-py-get",
    "redis-py-set",
    *(f"store-{operation}-{twin}" for operation in ("get", "set") for twin in TWINS),
    "store-read-sliding-cython",
    "fast-path-get",
)
REQUEST_VARIANTS = (
    "no-sessions",
    "no-sessions-modify",
    *(f"{kind}-{twin}" for kind in ("read", "modify", "cached-read", "cached-modify") for twin in TWINS),
    "cached-session-metrics",
    *(f"own-cost-{twin}" for twin in TWINS),
    "read-protected-cython",
    "cached-read-protected-cython",
)
PROTECTED = {"key_secrets": [b"n" * 32, b"o" * 32], "encryption_keys": [bytes(range(32))]}
"""The options of the ``-protected`` variants."""
VARIANTS = STORE_VARIANTS + REQUEST_VARIANTS
# Ratios reported: (name, numerator, denominator, floor subtracted from both, goal).
# ``socket-*`` is the bare round trip: "client cost above a bare socket round trip".
RATIOS = (
    (
        "store.get / redis-py get+loads, above a bare socket GET",
        "store-get-cython",
        "redis-py-get",
        "socket-get",
        0.25,
    ),
    (
        "store.set / redis-py set+dumps, above a bare socket SET",
        "store-set-cython",
        "redis-py-set",
        "socket-set",
        0.25,
    ),
    ("read-only request / no sessions", "read-cython", "no-sessions", None, 1.25),
    ("modifying request / session-less modifying request", "modify-cython", "no-sessions-modify", None, 1.6),
    ("cached read-only request / no sessions", "cached-read-cython", "no-sessions", None, 1.12),
    ("cached modifying / modifying request", "cached-modify-cython", "modify-cython", None, 1.1),
    (
        "metrics on / off, cached read-only request",
        "cached-session-metrics",
        "cached-read-cython",
        None,
        1.02,
    ),
    (
        "key_secrets + encryption_keys / off, read-only request",
        "read-protected-cython",
        "read-cython",
        None,
        1.1,
    ),
    (
        "key_secrets + encryption_keys / off, cached read-only request",
        "cached-read-protected-cython",
        "cached-read-cython",
        None,
        1.1,
    ),
)
HERE = Path(__file__).resolve().parent
DATA = {"user": "foo", "cart": [1, 2, 3], "csrf": "0123456789abcdef"}
EXPIRATION = 86400
MODULE_STATE: dict[str, int] = {}  # what the session-less modifying handler changes


def bare_round_trip(port: int, frame: bytes) -> Callable[[], bytes]:
    """One frame and its (small, single-segment) reply on a plain socket."""
    connection = socket.create_connection(("127.0.0.1", port))
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call() -> bytes:
        connection.sendall(frame)
        return connection.recv(65536)

    return call


def store_call(variant: str, port: int) -> Callable[[], Any]:
    import redis
    import ujson
    from support.twins import store_on

    from hug_store_redis.codec.wire import command

    client = redis.Redis(port=port)
    payload = ujson.dumps(DATA)
    client.set("bench:raw", payload)
    operation = variant.split("-")[-2] if variant.startswith("store-") else variant.split("-")[-1]
    if variant == "socket-get":
        return bare_round_trip(port, command(b"GET", b"bench:raw"))
    if variant == "socket-set":
        return bare_round_trip(port, command(b"SET", b"bench:raw", payload.encode(), b"EX", EXPIRATION))
    if variant == "redis-py-get":
        return lambda: ujson.loads(client.get("bench:raw"))
    if variant == "redis-py-set":
        return lambda: client.set("bench:raw", ujson.dumps(DATA), ex=EXPIRATION)
    store = store_on(
        "python" if variant.endswith("python") else "cython", client, namespace="bench", expiration=EXPIRATION
    )
    assert store.uses_fast_path
    store.set("raw", DATA)
    if variant == "store-read-sliding-cython":
        read = store.sliding_reader(60)  # the middleware's read, touch_after=60: no touch due
        return lambda: read("raw")
    if variant == "fast-path-get":  # as the store's read calls it (the compiled twin's exchange)
        exchange, frame = store._transport._exchange, store.codec.frame_get("raw")  # type: ignore[attr-defined]
        return lambda: exchange(frame, None)
    if operation == "get":
        return lambda: store.get("raw")
    return lambda: store.set("raw", DATA)


def request_call(variant: str, port: int) -> tuple[Callable[[], Any], Callable[[], str]]:
    """The request, and what to say about the run afterwards (cache misses)."""
    import falcon.testing
    import redis
    from support.twins import store_on, twin_module
    from test_bench_middleware import StubbedReadStore, build_app

    from hug_store_redis import codec
    from hug_store_redis.sessions import RedisSessionMiddleware, new_session_id

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        assert status == "200 OK", status

    client = redis.Redis(port=port)
    session_id = new_session_id()
    twin = "cython" if variant == "cached-session-metrics" else variant.split("-")[-1]
    path = "/modify" if "modify" in variant else "/read"
    store: Any = None
    if variant.startswith("own-cost-"):
        codec.Codec = twin_module(twin).Codec
        store = StubbedReadStore(client, namespace="instructions")
        store.payloads[session_id] = store.encode(DATA)
    elif not variant.startswith("no-sessions"):
        cached = variant.startswith("cached-")
        protection: dict[str, Any] = PROTECTED if "-protected-" in variant else {}
        store = store_on(twin, client, namespace="instructions", local_cache=cached, **protection)
        store.set(session_id, DATA)
        while cached and store.stats()["cache_hits"] == 0:  # until the listener serves
            store.get(session_id)
            time.sleep(0.01)
    middleware = None if store is None else RedisSessionMiddleware(store, cookie_secure=False)
    app = build_app(middleware)
    if variant == "no-sessions-modify":
        app = build_app(None, modify_handler=modify_module_state)
    headers = {} if store is None else {"Cookie": f"sid={session_id}"}
    environ = falcon.testing.create_environ(path=path, headers=headers)
    misses = 0 if store is None else store.stats()["cache_misses"]
    scrape = with_metrics(store) if variant == "cached-session-metrics" else None

    def request() -> bytes:
        return b"".join(app(dict(environ), start_response))

    def finish() -> str:
        if scrape is not None:
            scrape()  # once per run, whatever the number of requests: out of the per-request figure
        if store is None or not variant.startswith("cached-"):
            return ""
        # Valgrind slows the listener's heartbeat past its lease now and then: the cache
        # then stops serving for a moment (fail closed) and a few reads go to Redis. A
        # cached modifying request misses once per write, as it must.
        missed = store.stats()["cache_misses"] - misses
        store.close()
        return f"cache misses: {missed}"

    return request, finish


def modify_module_state(request):  # type: ignore[no-untyped-def]  # hug reads annotations as input types
    MODULE_STATE["counter"] = MODULE_STATE.get("counter", 0) + 1
    return {"counter": MODULE_STATE["counter"]}


def run_calls(variant: str, calls: int, port: int) -> None:
    """The traced part: build the call for ``variant`` and make it ``calls`` times."""
    sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
    import hug  # noqa: F401  # first, as in an app: it swaps ujson.dumps for a Python proxy

    finish: Callable[[], str] = str
    if variant in STORE_VARIANTS:
        call = store_call(variant, port)
    else:
        call, finish = request_call(variant, port)
    for _ in range(calls):
        call()
    print(finish(), file=sys.stderr)


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


def instructions(variant: str, calls: int, port: int) -> tuple[int, int]:
    """(instructions, cache misses) of one traced run."""
    with tempfile.TemporaryDirectory() as directory:
        completed = subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={directory}/cachegrind.out",
                sys.executable,
                __file__,
                "--trace",
                variant,
                str(calls),
                str(port),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            cwd=directory,
        )
    found = re.search(r"I\s+refs:\s+([\d,]+)", completed.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from cachegrind:\n{completed.stderr[-2000:]}")
    missed = re.search(r"cache misses: (\d+)", completed.stderr)
    return int(found.group(1).replace(",", "")), int(missed.group(1)) if missed else 0


def measure(variants: list[str], few: int, many: int, jobs: int) -> dict[str, dict[str, float]]:
    """Per variant: instructions per call and the cache misses of both runs.

    The server runs outside the traced process: its start-up (polling until it answers)
    would add a varying count to each run.
    """
    from hug_store_redis.cli.embedded import EmbeddedRedis

    figures = {}
    with EmbeddedRedis() as server, ThreadPoolExecutor(jobs) as pool:
        runs = {
            variant: (
                pool.submit(instructions, variant, few, server.port),
                pool.submit(instructions, variant, many, server.port),
            )
            for variant in variants
        }
        for variant, (few_run, many_run) in runs.items():
            (few_count, few_misses), (many_count, many_misses) = few_run.result(), many_run.result()
            figures[variant] = {
                "instructions": (many_count - few_count) / (many - few),
                "cache_misses": few_misses + many_misses,
            }
            print(f"{variant:24} {figures[variant]['instructions']:9,.0f} instructions per call", flush=True)
    return figures


def ratios(figures: dict[str, dict[str, float]]) -> list[tuple[str, float, float]]:
    """(what, ratio, goal) for every ratio whose variants were measured."""
    found = []
    for what, numerator, denominator, floor, goal in RATIOS:
        needed = [numerator, denominator] + ([floor] if floor else [])
        if not all(variant in figures for variant in needed):
            continue
        base = figures[floor]["instructions"] if floor else 0.0
        value = (figures[numerator]["instructions"] - base) / (figures[denominator]["instructions"] - base)
        found.append((what, value, goal))
    return found


def main() -> None:
    if sys.argv[1:2] == ["--trace"]:
        run_calls(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--few", type=int, default=500)
    parser.add_argument("--many", type=int, default=2500)
    parser.add_argument(
        "--jobs", type=int, default=2, help="traced runs at a time (counts do not depend on it)"
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--json", type=Path, help="also write the figures here (for report.py)")
    options = parser.parse_args()
    figures = measure(options.variants, options.few, options.many, options.jobs)
    print()
    for variant, figure in figures.items():
        missed = f"  ({figure['cache_misses']:.0f} cache misses)" if variant.startswith("cached") else ""
        print(f"{variant:24} {figure['instructions']:9,.0f}{missed}")
    for what, value, goal in ratios(figures):
        print(f"{what}: {value:.3f} (goal <= {goal})")
    if options.json:
        command = ".venv/bin/python benchmarks/request_instructions.py " + " ".join(sys.argv[1:])
        options.json.write_text(json.dumps({"command": command, "per_call": figures}, indent=1))


if __name__ == "__main__":
    main()
