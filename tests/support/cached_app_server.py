"""A second app server as its own process: a cached RedisStore driven line by line over stdin/stdout.

``python -m support.cached_app_server PORT NAMESPACE``, then one command a line, one JSON reply a line:

- ``cache ID...``: read each session until a read is a hit (its copy is cached and serving);
- ``invalidations``: the store's ``invalidations`` counter;
- ``await_invalidations N``: poll that counter until it reaches N;
- ``read ID...``: ``{"ID": [payload or null, hit]}``, each read through the store once.
"""

import json
import sys
from typing import Any

import redis

from hug_store_redis import RedisStore
from support.servers import wait_for
from support.store_cache import GENEROUS, wait_cached


def serve(store: RedisStore) -> None:
    for line in sys.stdin:
        command, *args = line.split()
        reply: Any = "ok"
        if command == "cache":
            for session_id in args:
                wait_cached(store, session_id)
        elif command == "invalidations":
            reply = store.stats()["invalidations"]
        elif command == "await_invalidations":
            wanted = int(args[0])
            wait_for("the invalidations", lambda n=wanted: store.stats()["invalidations"] >= n, GENEROUS)
        elif command == "read":
            reply = {}
            for session_id in args:
                hits = store.stats()["cache_hits"]
                payload = store.read_payload(session_id)
                hit = store.stats()["cache_hits"] > hits
                reply[session_id] = [None if payload is None else payload.decode(), hit]
        else:
            reply = f"unknown command {command!r}"
        print(json.dumps(reply), flush=True)


def main() -> None:
    port, namespace = int(sys.argv[1]), sys.argv[2]
    client = redis.Redis(port=port, socket_timeout=5)
    with RedisStore(client, namespace, local_cache=True) as store:
        print(json.dumps("ready"), flush=True)
        serve(store)
    client.close()


if __name__ == "__main__":
    main()
