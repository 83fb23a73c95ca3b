"""Items lost by overlapping requests: last-writer-wins beside compare-and-set writes.

Run it as ``PYTHONPATH=tests .venv/bin/python scripts/session_lost_items.py [threads] [requests]``.

8 threads (default) each send 2,000 requests (default) through a waitress server with as
many threads, round robin over 4 sessions; every request adds one unique item under its
own top-level key. Printed per configuration: items added, items the sessions hold, items
lost, and the store's conflict count (compare-and-set retries).
"""

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import redis
import waitress.server
from hug.middleware import SessionMiddleware
from support.session_load import add_items, adding_api, items_found, session_ids

from hug_store_redis import RedisSessionMiddleware, RedisStore
from hug_store_redis.cli.embedded import EmbeddedRedis

CONFIGURATIONS = {
    "hug SessionMiddleware + RedisStore (last writer wins)": lambda store: SessionMiddleware(
        store, cookie_secure=False
    ),
    "RedisSessionMiddleware (compare-and-set)": lambda store: RedisSessionMiddleware(
        store, cookie_secure=False
    ),
}


def measure(
    client: redis.Redis,
    name: str,
    make_middleware: Callable[[RedisStore], Any],
    threads: int,
    requests_per_thread: int,
) -> None:
    store = RedisStore(client, namespace=f"lost-items-{len(name)}")
    store.clear()
    ids = session_ids(store)
    api = adding_api(make_middleware(store))
    server = waitress.server.create_server(api.http.server(), host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        add_items(f"http://127.0.0.1:{server.effective_port}", ids, threads, requests_per_thread)
    finally:
        server.close()
        thread.join(timeout=10)
    added = threads * requests_per_thread
    held = items_found(store, ids)
    print(f"{name}: added {added}, held {held}, lost {added - held}, conflicts {store.stats()['conflicts']}")


def main() -> None:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    requests_per_thread = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    with EmbeddedRedis() as server:
        client = redis.Redis(host=server.host, port=server.port)
        for name, make_middleware in CONFIGURATIONS.items():
            measure(client, name, make_middleware, threads, requests_per_thread)
        client.close()


if __name__ == "__main__":
    main()
