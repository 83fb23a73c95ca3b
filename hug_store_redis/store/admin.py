"""Namespace admin and expiry control: count, list and clear sessions with SCAN, never KEYS.

KEYS blocks a server for as long as it walks every key; SCAN walks in small steps and
lets other clients in between. A cluster is walked primary by primary, because SCAN on
one node only sees that node's slots. Deletes go out as pipelined single-key UNLINKs,
so they are cluster-safe (no CROSSSLOT) and cost one round trip per batch.

``AdminMixin`` gives ``RedisStore`` these operations (and ``touch``, ``ttl``), the way
redis-py composes its command groups into the client: the store's module keeps to the hot path.
Each is one call into the store's transport, like every other operation, so the fast path,
``wait_replicas`` and the error count apply as they do to a ``get`` or a ``set``.
"""

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from hug.exceptions import StoreKeyNotFound

from ..clients.families import CLIENT_ERRORS
from ..codec import TwinCodec
from ..errors import short_id
from ..transport.base import Transport
from .checks import require_expiry
from .stats import StoreStats, counting_errors, counting_failures

#: Keys asked for per SCAN step, and UNLINKs sent per round trip.
BATCH_SIZE = 500

_GLOB_SPECIALS = frozenset(b"*?[]\\")


def escape_glob(text: bytes) -> bytes:
    """``text`` matched literally by SCAN MATCH: a namespace ``a*`` must not match ``ab:x``."""
    return b"".join(b"\\" + bytes((byte,)) if byte in _GLOB_SPECIALS else bytes((byte,)) for byte in text)


def match_pattern(prefix: bytes) -> bytes:
    """The SCAN MATCH pattern for every key that starts with ``prefix`` (``namespace:``)."""
    return escape_glob(prefix) + b"*"


def _batches(keys: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for key in keys:
        batch.append(key)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class AdminMixin:
    """Operations on a ``RedisStore``: expiry control and namespace admin, through its transport."""

    connection: Any
    expiration: int | None
    _transport: Transport
    _stats: StoreStats

    _handle: Callable[[str], str]
    _older: Callable[[str], tuple[str, ...]]
    _codec: "TwinCodec"

    if TYPE_CHECKING:

        def _forget(self, *keys: str) -> None: ...
        def _flush_local_cache(self) -> None: ...
        def _renew_touched(self, key: str, found: str, expire_ms: int | None) -> None: ...

    @counting_errors
    def touch(self, key: str, *, expire_ms: int | None = None) -> bool:
        """Restart the expiry of ``key`` without reading it; False when there is no such key.

        ``expire_ms``: expire after that many milliseconds instead of the namespace's expiry
        (the middleware caps a session's expiry at its remaining ``max_lifetime``).
        Expiry-only, like the sliding read, so it does not wait for ``wait_replicas``: a
        restart a failover loses only lets the session expire when it would have anyway.
        """
        require_expiry(expire_ms, "expire_ms")
        for handle in (self._handle(key), *self._older(key)):
            if self.expiration is not None or expire_ms is not None:
                self._forget(handle)
            if self._transport.touch(handle, expire_ms):
                self._renew_touched(key, handle, expire_ms)  # under an older secret or key: moved
                return True
        return False

    @counting_errors
    def ttl(self, key: str) -> int | None:
        """Seconds until ``key`` expires, None when it never does; ``StoreKeyNotFound`` when absent."""
        for handle in (self._handle(key), *self._older(key)):
            seconds = self._transport.ttl(handle)
            if seconds != -2:
                break
        else:
            raise StoreKeyNotFound(short_id(key))
        return None if seconds == -1 else seconds

    def count(self) -> int:
        """How many sessions the namespace holds (SCAN, so safe on a busy server)."""
        return sum(1 for _ in self._scan())

    def ids(self) -> Iterator[str]:
        """The keys of every session in the namespace, as given to ``set``; order is arbitrary.
        Under ``key_secrets`` these are handles (HMACs of the ids): Redis holds no id.

        Keys that are not valid UTF-8 cannot have been written by the store and are skipped.
        """
        start = len(self._codec.namespaced_key(""))
        for full_key in self._scan():
            try:
                yield full_key[start:].decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                continue

    def clear(self, *, on_batch: Callable[[int], None] | None = None) -> int:
        """Delete every session in the namespace, in batches; how many were deleted.

        Deleting between SCAN steps is safe: SCAN still returns every key that exists for
        the whole walk, and memory stays at one batch however big the namespace is. Each
        batch is a write: under ``wait_replicas`` it counts only once the replicas hold it.
        ``on_batch`` gets the running total after each round trip.
        """
        removed = 0
        try:
            for batch in _batches(self._scan(), BATCH_SIZE):
                removed += self._unlink(batch)
                if on_batch is not None:
                    on_batch(removed)
        finally:
            self._flush_local_cache()
        return removed

    def _scan(self) -> Iterator[bytes]:
        """Every Redis key under ``namespace:``, as bytes; a failed step is counted once and raised."""
        try:
            yield from self._transport.scan(match_pattern(self._codec.namespaced_key("")), BATCH_SIZE)
        except CLIENT_ERRORS:
            self._stats.count("errors")
            raise

    @counting_failures
    def _unlink(self, batch: list[bytes]) -> int:
        return self._transport.unlink(batch)
