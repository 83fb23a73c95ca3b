"""Namespace admin: count, list and clear sessions with SCAN, never KEYS.

KEYS blocks a server for as long as it walks every key; SCAN walks in small steps and
lets other clients in between. A cluster is walked primary by primary, because SCAN on
one node only sees that node's slots. Deletes go out as pipelined single-key UNLINKs,
so they are cluster-safe (no CROSSSLOT) and cost one round trip per batch.
"""

from collections.abc import Callable, Iterable, Iterator
from typing import Any

#: Keys asked for per SCAN step, and UNLINKs sent per round trip.
BATCH_SIZE = 500

_GLOB_SPECIALS = frozenset(b"*?[]\\")


def escape_glob(text: bytes) -> bytes:
    """``text`` matched literally by SCAN MATCH: a namespace ``a*`` must not match ``ab:x``."""
    return b"".join(b"\\" + bytes((byte,)) if byte in _GLOB_SPECIALS else bytes((byte,)) for byte in text)


def match_pattern(prefix: bytes) -> bytes:
    """The SCAN MATCH pattern for every key that starts with ``prefix`` (``namespace:``)."""
    return escape_glob(prefix) + b"*"


def _as_bytes(key: bytes | str) -> bytes:
    # decode_responses=True hands back str; the store wrote UTF-8 with surrogatepass.
    return key if isinstance(key, bytes) else key.encode("utf-8", "surrogatepass")


def _nodes(connection: Any) -> list[Any]:
    """One client per node to scan: each primary of a cluster, or the client itself.

    Recognised by behaviour (``get_primaries``), not by class, like the rest of the store.
    """
    get_primaries = getattr(connection, "get_primaries", None)
    if get_primaries is None:
        return [connection]
    # valkey-py's ValkeyCluster names it get_valkey_connection.
    node_client = getattr(connection, "get_redis_connection", None) or connection.get_valkey_connection
    return [node_client(node) for node in get_primaries()]


def scan_keys(connection: Any, prefix: bytes, batch_size: int = BATCH_SIZE) -> Iterator[bytes]:
    """Every Redis key under ``prefix``, as bytes; a key may repeat if it moves mid-scan."""
    pattern = match_pattern(prefix)
    for node in _nodes(connection):
        for key in node.scan_iter(match=pattern, count=batch_size):
            yield _as_bytes(key)


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
