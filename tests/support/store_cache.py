"""Helpers for stores with a local cache: waiting for hits, delaying invalidations, reading traces."""

import contextlib
from collections.abc import Iterator
from typing import Any

from hug_store_redis import RedisStore
from support.servers import wait_for

GENEROUS = 15.0  # seconds: a deadline for "eventually", never a timing assertion


def wait_cached(store: RedisStore, key: str) -> None:
    """Read ``key`` until a read is a hit (the cache serves and its own writes' invalidations passed)."""

    def hit() -> bool:
        before = store.stats()["cache_hits"]
        store.read_payload(key)
        return store.stats()["cache_hits"] > before

    wait_for(f"a cache hit on {key!r}", hit, timeout=GENEROUS)


def wait_value(store: RedisStore, key: str, expected: Any) -> None:
    wait_for(f"{key!r} to read {expected!r}", lambda: store.read_payload(key) == expected, timeout=GENEROUS)


LISTENER_COMMANDS = {"ping", "info", "hello", "client"}
"""What the invalidation listeners send on their own connections (heartbeats, reconnections)."""


def sent_by_the_store(commands: Any) -> dict[str, int]:
    """A ``support.commands.Commands`` delta without the listeners' own traffic to the server."""
    return {name: calls for name, calls in commands.delta().items() if name not in LISTENER_COMMANDS}


def listeners_of(store: RedisStore) -> list[Any]:
    assert store._cached is not None
    return store._cached.sources.listeners


@contextlib.contextmanager
def invalidations_held(store: RedisStore) -> Iterator[list[Any]]:
    """Invalidations from the server are held back (heartbeats still pass) until the block ends.

    Stands for a slow network between Redis and this process: only what the store does
    itself can make its own writes visible meanwhile.
    """
    held: list[Any] = []
    patched = []
    for listener in listeners_of(store):
        original = listener._on_push
        listener._on_push = held.append
        patched.append((listener, original))
    try:
        yield held
    finally:
        for listener, original in patched:
            listener._on_push = original
            for message in held:
                original(message)


def decoded_kept(store: RedisStore, key: str) -> Any:
    """The decoded session the store's local cache keeps beside ``key``'s entry, or None."""
    assert store._cached is not None
    entry = store._cached.cache._entries.get(store.namespaced_key(key))
    return None if entry is None or entry[3] is None else entry[3][0]
