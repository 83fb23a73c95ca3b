"""After a write through the middleware, how long until the session's reads hit the local cache.

    .venv/bin/python benchmarks/cache_write_to_hit.py [--server inprocess|waitress|gunicorn]
        [--writes 300] [--threads 4]

A write drops the session from this process's cache (read-your-writes), and Redis pushes the
write's invalidation to the listener thread a little later; a read that is in flight when that
push is applied is not installed (the placeholder rule), so the first reads after a write go
to Redis. This counts them: one request changes the session (``/_probe?write=1`` of
benchmarks/throughput_app.py, cache on), then read-only requests follow one after another until
one is a hit (the store's ``cache_hits`` rises). Per write: the reads that went to Redis (the
hit not counted) and the time from the write's response to the hit's. ``inprocess`` calls the
WSGI app on one thread; ``waitress`` and ``gunicorn`` (gthread, one worker) serve it from a
process of their own, read over one keep-alive HTTP connection.
Medians, 90th percentiles and maxima over ``--writes`` writes.
"""

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis
from throughput import SESSION, wait_ready
from throughput_app import NAMESPACE, build_app

from hug_store_redis import RedisStore
from hug_store_redis.cli.embedded import EmbeddedRedis, free_port
from hug_store_redis.sessions import new_session_id

HERE = Path(__file__).resolve().parent


def in_process(redis_port: int, session_id: str) -> tuple[Callable[[str], int], Callable[[], None]]:
    """A GET of a path answering the JSON integer, on the app called as WSGI; and its close."""
    import falcon.testing

    app = build_app("cache-on", redis_port)

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        assert status == "200 OK", status

    environs = {}

    def get(path: str) -> int:
        if path not in environs:
            target, _, query = path.partition("?")
            environs[path] = falcon.testing.create_environ(
                path=target, query_string=query, headers={"Cookie": f"sid={session_id}"}
            )
        return int(json.loads(b"".join(app(dict(environs[path]), start_response))))

    return get, lambda: None


def served(
    server: str, threads: int, redis_port: int, session_id: str
) -> tuple[Callable[[str], int], Callable[[], None]]:
    """The same GET over one keep-alive connection to the app in a process of its own."""
    port = free_port()
    command = [sys.executable, str(HERE / "throughput_app.py"), "--variant", "cache-on", "--server", server]
    command += ["--threads", str(threads), "--port", str(port), "--redis-port", str(redis_port)]
    app = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_ready(app, port)
    connection = http.client.HTTPConnection("127.0.0.1", port)

    def get(path: str) -> int:
        connection.request("GET", path, headers={"Cookie": f"sid={session_id}"})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body)
        return int(json.loads(body))

    def close() -> None:
        connection.close()
        app.terminate()
        app.communicate(timeout=30)

    return get, close


def measure(get: Callable[[str], int], writes: int) -> list[tuple[int, float]]:
    """(reads that missed, ms from the write's response to the first hit's) per write."""
    deadline = time.monotonic() + 30
    hits = get("/_probe")
    while (now_hits := get("/_probe")) == hits:  # until the cache serves this session
        if time.monotonic() > deadline:
            raise RuntimeError("the cache served no hit within 30 s")
        hits = now_hits
    found = []
    for _ in range(writes):
        hits = get("/_probe?write=1")  # the count after this request's read; the write follows it
        written = time.perf_counter()
        missed = 0
        while True:
            now_hits = get("/_probe")
            if now_hits > hits:
                break
            missed, hits = missed + 1, now_hits
        found.append((missed, (time.perf_counter() - written) * 1000))
    return found


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered):.3g}, p90 {p90:.3g}, max {ordered[-1]:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("inprocess", "waitress", "gunicorn"), default="inprocess")
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4, help="the server's threads")
    options = parser.parse_args()
    with EmbeddedRedis() as server:
        session_id = new_session_id()
        RedisStore(redis.Redis(port=server.port), NAMESPACE).set(session_id, SESSION)
        if options.server == "inprocess":
            get, close = in_process(server.port, session_id)
        else:
            get, close = served(options.server, options.threads, server.port, session_id)
        try:
            found = measure(get, options.writes)
        finally:
            close()
    print(f"{options.writes} writes through the middleware, {options.server}:")
    print(f"  reads sent to Redis before the first hit: {summary([float(m) for m, _ in found])}")
    print(f"  ms from the write's response to the hit's: {summary([ms for _, ms in found])}")


if __name__ == "__main__":
    main()
