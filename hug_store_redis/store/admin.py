"""Namespace admin and expiry control: count, list and clear sessions with SCAN, never KEYS.

KEYS blocks a server for as long as it walks every key; SCAN walks in small steps and
lets other clients in between. A cluster is walked primary by primary, because SCAN on
one node only sees that node's slots. Deletes go out as pipelined single-key UNLINKs,
so they are cluster-safe (no CROSSSLOT) and cost one round trip per batch.

``AdminMixin`` gives ``RedisStore`` these operations (and ``touch``, ``ttl``), the way
redis-py composes its command groups into the client: the store's module keeps to the hot path.
"""

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from hug.exceptions import StoreKeyNotFound

from ..codec.wire import as_bytes
from ..errors import short_id
from ..topology.cluster import primary_clients

#: Keys asked for per SCAN step, and UNLINKs sent per round trip.
BATCH_SIZE = 500

_GLOB_SPECIALS = frozenset(b"*?[]\\")


def escape_glob(text: bytes) -> bytes:
    """``text`` matched literally by SCAN MATCH: a namespace ``a*`` must not match ``ab:x``."""
    return b"".join(b"\\" + bytes((byte,)) if byte in _GLOB_SPECIALS else bytes((byte,)) for byte in text)


def match_pattern(prefix: bytes) -> bytes:
    """The SCAN MATCH pattern for every key that starts with ``prefix`` (``namespace:``)."""
    return escape_glob(prefix) + b"*"


def scan_keys(connection: Any, prefix: bytes, batch_size: int = BATCH_SIZE) -> Iterator[bytes]:
    """Every Redis key under ``prefix``, as bytes; a key may repeat if it moves mid-scan."""
    pattern = match_pattern(prefix)
    for node in primary_clients(connection):
        for key in node.scan_iter(match=pattern, count=batch_size):
            yield as_bytes(key)  # decode_responses=True hands back str


def count(connection: Any, prefix: bytes) -> int:
    """How many keys live under ``prefix`` right now."""
    return sum(1 for _ in scan_keys(connection, prefix))


def ids(connection: Any, prefix: bytes) -> Iterator[str]:
    """The session keys under ``prefix``, as the str the store was given.

    Keys that are not valid UTF-8 cannot have been written by the store and are skipped.
    """
    start = len(prefix)
    for full_key in scan_keys(connection, prefix):
        try:
            yield full_key[start:].decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            continue


def _batches(keys: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for key in keys:
        batch.append(key)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def clear(
    connection: Any,
    prefix: bytes,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """UNLINK every key under ``prefix``; how many were removed.

    Deleting between SCAN steps is safe: SCAN still returns every key that exists for
    the whole walk, and memory stays at one batch however big the namespace is.
    ``on_batch`` gets the running total after each round trip.
    """
    removed = 0
    for batch in _batches(scan_keys(connection, prefix, batch_size), batch_size):
        pipeline = connection.pipeline(transaction=False)
        for key in batch:
            pipeline.unlink(key)
        removed += sum(int(result) for result in pipeline.execute())
        if on_batch is not None:
            on_batch(removed)
    return removed


class AdminMixin:
    """Operations on a ``RedisStore``: expiry control and namespace admin, through its client."""

    connection: Any
    expiration: int | None

    if TYPE_CHECKING:

        def namespaced_key(self, key: str) -> bytes: ...
        def _forget(self, *keys: str) -> None: ...
        def _flush_local_cache(self) -> None: ...

    def touch(self, key: str) -> bool:
        """Restart the expiry of ``key`` without reading it; False when there is no such key."""
        full_key = self.namespaced_key(key)
        if self.expiration is None:
            return bool(self.connection.exists(full_key))
        self._forget(key)
        return bool(self.connection.expire(full_key, self.expiration))

    def ttl(self, key: str) -> int | None:
        """Seconds until ``key`` expires, None when it never does; ``StoreKeyNotFound`` when absent."""
        seconds = int(self.connection.ttl(self.namespaced_key(key)))
        if seconds == -2:
            raise StoreKeyNotFound(short_id(key))
        return None if seconds == -1 else seconds

    def count(self) -> int:
        """How many sessions the namespace holds (SCAN, so safe on a busy server)."""
        return count(self.connection, self.namespaced_key(""))

    def ids(self) -> Iterator[str]:
        """The keys of every session in the namespace, as given to ``set``; order is arbitrary."""
        return ids(self.connection, self.namespaced_key(""))

    def clear(self, *, on_batch: Callable[[int], None] | None = None) -> int:
        """Delete every session in the namespace, in batches; how many were deleted."""
        try:
            return clear(self.connection, self.namespaced_key(""), on_batch=on_batch)
        finally:
            self._flush_local_cache()
