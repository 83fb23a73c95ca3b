"""RedisStore: hug's store API (get/set/exists/delete) on one Redis namespace."""

import datetime
import functools
from collections.abc import Callable
from typing import Any

from hug.exceptions import StoreKeyNotFound

from .. import codec
from ..cache.cached_reads import CachedReads, cache_of, cached_reads_for
from ..cache.local_cache import LocalCache
from ..clients import connect
from ..codec import non_finite
from ..errors import CorruptSessionError, short_id
from ..transport.base import RedisClient, SlidingReply
from ..transport.fast_transport import FastTransport
from ..transport.replica_wait import replica_wait
from ..transport.selection import transport_for
from .admin import AdminMixin
from .checks import expiration_seconds, require_bytes
from .conditional_writes import ConditionalWritesMixin
from .index_writes import IndexWritesMixin
from .results import SlidingRead, WriteOutcome
from .stats import Histogram, StoreStats, counting_errors

__all__ = ["RedisClient", "RedisStore", "SlidingRead", "WriteOutcome", "expiration_seconds"]


class RedisStore(AdminMixin, ConditionalWritesMixin, IndexWritesMixin):
    """Session data as JSON in plain Redis strings at ``namespace:key``.

    Defaults, keys and bytes are those of hug_store_redis 1.0.0, so an upgrade keeps
    every live session. Every ``set`` resets the expiry.

    The transport is chosen once, here (``transport_for``): on a plain ``redis.Redis`` the store sends
    pre-framed commands on connections of its own, made like the client's pool makes them
    (``FastTransport``); every other client, or ``fast_path=False``, goes through the
    client's own methods (``ClientTransport``). Every operation below is one call into
    it, so results and exceptions are the same on both.

    On a Sentinel-managed client the store follows failovers (``sentinel_follow.py``).
    ``wait_replicas=N`` makes every write wait, in the same round trip, until N replicas
    hold it (``WAIT N wait_timeout_ms``), and raise ``NotReplicatedError`` otherwise.

    ``local_cache=True`` (or a ``LocalCache`` with its own limits) serves reads from this
    process's memory while Redis's invalidations are known to flow (``cached_reads.py``);
    every write through the store drops its key from the cache once acknowledged.
    """

    def __init__(
        self,
        connection: RedisClient,
        namespace: str = "store",
        expiration: "int | float | datetime.timedelta | None" = 86400,
        *,
        fast_path: bool = True,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
        local_cache: "bool | LocalCache" = False,
    ) -> None:
        cache = cache_of(local_cache)
        self.expiration = expiration_seconds(expiration)
        wait = replica_wait(wait_replicas, wait_timeout_ms, connection)
        self._codec = codec.Codec(namespace, self.expiration)
        self.connection = connection
        self.namespace = namespace
        self._transport = transport_for(
            connection, self._codec, self.expiration, fast_path=fast_path, wait=wait
        )
        self._stats = StoreStats()
        self.note_skipped_write = self._stats.counter("skipped_writes")
        """Called by a caller that found nothing changed and wrote nothing (the middleware)."""
        self.note_merge = self._stats.counter("merges")
        """Called by a caller that re-applied its change over another writer's (the middleware)."""
        self.note_write_attempts = self._stats.write_attempts
        """Called once per session write with its compare-and-set calls (the ``write_attempts`` histogram)."""
        self._cached: CachedReads | None = None
        if cache is not None:
            self._cached = cached_reads_for(
                connection, cache, self._transport, self._codec.namespaced_key, self._stats.touched
            )
        self._cache_counted = None if self._cached is None else self._cached.cache

    @property
    def local_cache(self) -> LocalCache | None:
        """The cache reads go through, or None (not asked for, this client cannot have one, closed)."""
        cached = self._cached
        return None if cached is None or not cached.serving else cached.cache

    def close(self) -> None:
        """Stop what the store started: detach its local cache from the invalidation listeners
        (a listener no other store uses ends its thread and connection), end the background
        touch thread and close the fast path's idle connections. Idempotent.

        The store keeps working afterwards, without the cache: every read and write goes to
        Redis, so a request still in flight during shutdown is answered, and never from a copy
        that nothing invalidates any more. The client is not closed: it is the caller's
        (``store.connection.close()``, also for a store made by ``from_url``).
        """
        cached, self._cached = self._cached, None
        if cached is not None:
            cached.close()
        self._transport.close()

    def __enter__(self) -> "RedisStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self.namespace!r}, expiration={self.expiration!r})"

    @property
    def codec(self) -> codec.TwinCodec:
        """The twin this store encodes with: a caller that compares sessions (the middleware) uses it too."""
        return self._codec

    @property
    def uses_fast_path(self) -> bool:
        return isinstance(self._transport, FastTransport)

    def stats(self) -> dict[str, int]:
        """Counts since creation, as the Metrics page of the docs lists them."""
        cache = self._cache_counted.stats() if self._cache_counted is not None else {}
        return self._stats.snapshot_with(cache)

    def histograms(self) -> dict[str, Histogram]:
        """Distributions since creation: compare-and-set attempts per session write, bytes per write."""
        return self._stats.histograms()

    def get(self, key: str) -> Any:
        """The data stored under ``key``; ``StoreKeyNotFound`` when there is none."""
        cached = self._cached
        payload: bytes | str | None = cached.hit(key) if cached is not None else None
        if payload is None:
            payload = self._read(key)
            if payload is None:
                raise StoreKeyNotFound(short_id(key))
        return non_finite.mark(self.decode(payload, key), payload)

    def set(self, key: str, data: Any) -> None:
        """Store ``data`` and restart its expiry. Bad data raises before Redis is touched."""
        if type(data) is non_finite.NonFiniteSession:  # NaN that get() read from 1.0.0: null, not a 500
            data = non_finite.cleaned(data, key, self.namespace)
        self.write_payload(key, self._codec.encode(data))

    @counting_errors
    def exists(self, key: str) -> bool:
        return self._transport.exists(key)

    @counting_errors
    def delete(self, key: str) -> bool:
        """True when a key was deleted, False when there was none."""
        try:
            deleted = self._transport.delete(key)
        finally:
            self._forget(key)
        if deleted:
            self._stats.count("deletes")
        return deleted

    # The pieces below let a caller (the session middleware) read once, compare bytes,
    # and write only what changed.

    def namespaced_key(self, key: str) -> bytes:
        """The Redis key for ``key``: ``namespace:key`` in UTF-8."""
        return self._codec.namespaced_key(key)

    def encode(self, data: Any) -> bytes:
        """The exact bytes ``set`` would write for ``data``."""
        return self._codec.encode(data)

    def decode(self, payload: bytes | str, key: str) -> Any:
        """Data from bytes read for ``key``; ``CorruptSessionError`` when they are not JSON."""
        try:
            return self._codec.decode(payload, key)
        except CorruptSessionError:
            self._stats.count("errors")
            raise

    def read_payload(self, key: str, *, touch: bool = False) -> bytes | str | None:
        """The raw value, or None; with ``touch``, the expiry restarts in the same round trip.

        GETEX (Redis >= 6.2) reads and slides the expiry in one command; older servers
        get GET and EXPIRE pipelined without MULTI, still one round trip.
        """
        if touch:
            return self._read_and_touch(key)
        cached = self._cached
        payload = cached.hit(key) if cached is not None else None
        return self._read(key) if payload is None else payload

    @counting_errors
    def _read(self, key: str) -> bytes | str | None:
        """From Redis (through the cache's placeholder when there is one); counted."""
        cached = self._cached  # read once: close() may run in another thread
        payload = self._transport.read(key) if cached is None else cached.miss(key)[0]
        self._stats.read(None if payload is None else len(payload))
        return payload

    @counting_errors
    def _read_and_touch(self, key: str) -> bytes | str | None:
        """A touch on every read is a write: the cache cannot save it a round trip."""
        payload = self._transport.read_and_touch(key)
        self._forget(key)
        self._stats.read(None if payload is None else len(payload), touched=self.expiration is not None)
        return payload

    def read_payload_sliding(self, key: str, touch_after: float) -> SlidingRead:
        """The raw value (None when absent) and its remaining ms, sliding the expiry lazily.

        The expiry restarts only once ``touch_after`` seconds have passed since it last
        did, so reads in between write nothing (no replication, no AOF); a missing key is
        never created. ``touch_after=0`` slides on every read (GETEX). ``ttl_ms`` is -1
        for keys that never expire and -2 when there is no key.
        """
        return SlidingRead(*self.sliding_reader(touch_after)(key))

    def sliding_reader(self, touch_after: float) -> Callable[[str], SlidingReply]:
        """``read_payload_sliding`` for one ``touch_after``, checked once, answering plain tuples.

        For a caller that reads on every request (the middleware): building the named
        tuple costs several times a local-cache hit.
        """
        expiration = self.expiration
        if expiration is None:
            return self._read_never_expiring
        if not 0 <= touch_after < expiration:
            raise ValueError(
                f"touch_after must be from 0 to below the expiration ({expiration} s), got {touch_after!r}"
            )
        if touch_after == 0:
            return self._read_touching_always
        return functools.partial(self._read_sliding_below, int((expiration - touch_after) * 1000))

    def untouched_reader(self) -> Callable[[str], SlidingReply]:
        """``(value, remaining ms, False)`` in one round trip (or a local-cache hit), never sliding
        the expiry: for a caller that decides its own touches (the middleware under ``max_lifetime``)."""
        return functools.partial(self._read_sliding_below, 0)

    def _read_never_expiring(self, key: str) -> SlidingReply:
        payload = self.read_payload(key)
        return payload, -2 if payload is None else -1, False

    def _read_touching_always(self, key: str) -> SlidingReply:
        payload = self._read_and_touch(key)
        assert self.expiration is not None
        return payload, -2 if payload is None else self.expiration * 1000, payload is not None

    def _read_sliding_below(self, touch_below_ms: int, key: str) -> SlidingReply:
        cached = self._cached
        if cached is not None:
            hit = cached.hit_sliding(key, touch_below_ms)
            if hit is not None:
                return hit
        return self._read_sliding(key, touch_below_ms)

    @counting_errors
    def _read_sliding(self, key: str, touch_below_ms: int) -> SlidingReply:
        cached = self._cached
        if cached is None:
            reply = self._transport.read_sliding(key, touch_below_ms)
        else:
            reply = cached.miss(key, touch_below_ms)
        payload = reply[0]
        self._stats.read(None if payload is None else len(payload), reply[2])
        return reply

    @counting_errors
    def write_payload(self, key: str, payload: bytes) -> None:
        """Write bytes from ``encode`` and restart the expiry."""
        require_bytes(payload)
        try:
            self._transport.write(key, payload)
        finally:
            self._forget(key)
        self._stats.write(len(payload))

    @counting_errors
    def replace_payload(self, key: str, payload: bytes, old_key: str) -> None:
        """Write ``payload`` under ``key`` and delete ``old_key``, in one round trip.

        For rotating a session id at login. Two single-key commands pipelined without
        MULTI, so it stays Cluster-safe; a failure between them leaves the old key, which
        expires on its own.
        """
        require_bytes(payload)
        try:
            self._transport.replace(key, payload, old_key)
        finally:
            self._forget(key, old_key)
        self._stats.write(len(payload))
        self._stats.count("deletes")

    def _forget(self, *keys: str) -> None:
        """After a write, acknowledged or not: this process reads the keys from Redis next time."""
        cached = self._cached
        if cached is not None:
            for key in keys:
                cached.forget(key)

    def _flush_local_cache(self) -> None:
        cached = self._cached
        if cached is not None:
            cached.cache.flush()

    # Connecting by URL; expiry control and namespace admin come from AdminMixin (admin.py).

    @classmethod
    def from_url(
        cls,
        url: str,
        namespace: str = "store",
        expiration: "int | float | datetime.timedelta | None" = 86400,
        *,
        cluster: bool | None = None,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
        local_cache: "bool | LocalCache" = False,
        **client_kwargs: Any,
    ) -> "RedisStore":
        """A store on a new client for ``url`` (``redis://``, ``rediss://``, ``unix://``,
        ``redis+cluster://``, ``rediss+cluster://``); ``client_kwargs`` go to redis-py.

        Bad arguments fail before any connection is made, so a typo never half-connects.
        """
        codec.Codec(namespace)
        expiration_seconds(expiration)
        replica_wait(wait_replicas, wait_timeout_ms)
        cache_of(local_cache)
        return cls(
            connect.client_from_url(url, cluster=cluster, **client_kwargs),
            namespace,
            expiration,
            wait_replicas=wait_replicas,
            wait_timeout_ms=wait_timeout_ms,
            local_cache=local_cache,
        )
