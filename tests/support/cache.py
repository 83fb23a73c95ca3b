"""Helpers for the local-cache tests: the read the store will do, and waiting on the listener.

``read`` goes through ``LocalCache.read_through`` with the store's own READ_AND_TOUCH script
(threshold 0: it never touches), so a cached entry carries the key's real remaining TTL.
"""

import queue
import uuid
from collections.abc import Callable
from time import monotonic

import redis

from hug_store_redis.cache import InvalidationListener, LocalCache, invalidation, shared_listeners
from hug_store_redis.transport import READ_AND_TOUCH
from support.servers import wait_for

NAMESPACE = "cache-test"
PREFIX = f"{NAMESPACE}:"
GENEROUS = 15.0  # seconds: a deadline for "eventually", never a timing assertion


def key(name: str) -> bytes:
    return f"{PREFIX}{name}".encode()


def fetcher(client: redis.Redis, redis_key: bytes) -> Callable[[], tuple[bytes | None, int]]:
    def fetch() -> tuple[bytes | None, int]:
        reply = client.eval(READ_AND_TOUCH.text, 1, redis_key, 86_400_000, 0)
        return (None, 0) if reply is None else (reply[0], int(reply[1]))

    return fetch


def read(cache: LocalCache, client: redis.Redis, redis_key: bytes) -> bytes | None:
    return cache.read_through(redis_key, fetcher(client, redis_key))


class Invalidations:
    """What the listener received, in order, for tests to wait on."""

    def __init__(self) -> None:
        self.received: queue.Queue[list[bytes] | None] = queue.Queue()

    def __call__(self, keys: list[bytes] | None) -> None:
        self.received.put(keys)

    def wait_for_key(self, redis_key: bytes) -> None:
        deadline = monotonic() + GENEROUS
        while True:
            keys = self.received.get(timeout=max(deadline - monotonic(), 0.01))
            if keys is not None and redis_key in keys:
                return

    def barrier(self, client: redis.Redis) -> None:
        """Return once every write ``client`` made before has been invalidated here.

        One connection delivers invalidations in the order the writes ran, so the invalidation
        of a marker written now comes after theirs.
        """
        marker = key(f"marker-{uuid.uuid4().hex}")
        client.set(marker, b"")
        self.wait_for_key(marker)

    def wait_for_flush(self) -> None:
        deadline = monotonic() + GENEROUS
        while self.received.get(timeout=max(deadline - monotonic(), 0.01)) is not None:
            pass


def wait_serving(cache: LocalCache) -> None:
    wait_for("the cache to serve", lambda: cache.serving, timeout=GENEROUS)


def wait_not_serving(cache: LocalCache) -> None:
    wait_for("the cache to stop serving", lambda: not cache.serving, timeout=GENEROUS)


def start_listener(port: int, cache: LocalCache, invalidations: Invalidations, **options):
    listener = InvalidationListener(("127.0.0.1", port), on_invalidation=invalidations, **options)
    listener.attach(cache, PREFIX)
    return listener.start()


def cache_entry(cache: LocalCache, client: redis.Redis, invalidations: Invalidations, name: str = "a"):
    """Write ``name`` = v1, let its own invalidation pass, read it into the cache; its Redis key."""
    redis_key = key(name)
    client.set(redis_key, b"v1")
    invalidations.barrier(client)
    assert read(cache, client, redis_key) == b"v1"
    assert cache.get(redis_key) == b"v1"
    return redis_key


def close_every_listener() -> None:
    """Stop every invalidation listener this process started, so no heartbeat PING of a finished
    test lands in another test's command counts or allocation figures."""
    for listener in list(invalidation._LIVE_LISTENERS):
        listener.close()
    with shared_listeners._SHARED_LOCK:
        shared_listeners._SHARED.clear()
    with shared_listeners._SENTINEL_LOCK:
        shared_listeners._SENTINEL_LISTENERS.clear()
