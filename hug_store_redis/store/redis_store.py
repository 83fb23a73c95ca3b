"""RedisStore: hug's store API (get/set/exists/delete) on one Redis namespace."""

import datetime
from collections.abc import Sequence
from typing import Any

from hug.exceptions import StoreKeyNotFound

from .. import codec
from ..cache.cached_reads import CachedReads, cache_of, cached_reads_for
from ..cache.local_cache import LocalCache
from ..clients import connect
from ..codec import non_finite
from ..errors import CorruptSessionError, short_id
from ..transport.base import RedisClient
from ..transport.fast_transport import FastTransport
from ..transport.replica_wait import replica_wait
from ..transport.selection import transport_for
from .admin import AdminMixin
from .checks import expiration_seconds
from .conditional_writes import ConditionalWritesMixin
from .decoded_reads import DecodedReadsMixin
from .hashed_keys import MOVE_ROUNDS, KeyMapping, checked_secrets
from .index_writes import IndexWritesMixin
from .key_moves import KeyMovesMixin
from .payloads import PayloadMixin
from .renewals import RenewalsMixin
from .results import SlidingRead, WriteOutcome
from .sealing import Sealing
from .stats import Histogram, StoreStats, counting_errors

__all__ = ["RedisClient", "RedisStore", "SlidingRead", "WriteOutcome", "expiration_seconds"]


class RedisStore(
    PayloadMixin,
    DecodedReadsMixin,
    ConditionalWritesMixin,
    KeyMovesMixin,
    RenewalsMixin,
    AdminMixin,
    IndexWritesMixin,
):
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

    ``key_secrets`` (bytes, newest first) keep session ids out of Redis: the key is an HMAC
    of the id (``hashed_keys.py``). ``encryption_keys`` (32 bytes each, newest first) seal
    every value with AES-256-GCM (``sealing.py``). Both rotate: reads accept the older
    ones, the next write (or due touch, ``renewals.py``) uses the newest. Unset, keys and
    bytes are 1.0.0's.
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
        key_secrets: Sequence[bytes] | None = None,
        encryption_keys: Sequence[bytes] | None = None,
    ) -> None:
        cache = cache_of(local_cache)
        keys = KeyMapping(key_secrets)
        self.expiration = expiration_seconds(expiration)
        wait = replica_wait(wait_replicas, wait_timeout_ms, connection)
        self._codec = codec.Codec(namespace, self.expiration)
        self.connection = connection
        self.namespace = namespace
        self._handle = keys.handle
        self._older = keys.older
        self._token = keys.token
        self._handles_of = keys.handles_of
        self.hashed_keys = keys.hashed
        """Whether Redis keys are HMACs of the ids (``key_secrets``): ``ids()`` then lists handles."""
        sealing = Sealing(encryption_keys, self._codec.namespaced_key)
        self._seal = sealing.seal
        self._open = sealing.open
        self._stale = sealing.stale
        self._rotating_seals = sealing.rotating
        self.encrypted = sealing.encrypted
        """Whether values are sealed (``encryption_keys``): they open only with the session's id."""
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
        payload = self.read_payload(key)
        if payload is None:
            raise StoreKeyNotFound(short_id(key))
        data, json = self.decode_stored(payload, key)
        return non_finite.mark(data, json)

    def set(self, key: str, data: Any) -> None:
        """Store ``data`` and restart its expiry. Bad data raises before Redis is touched."""
        if type(data) is non_finite.NonFiniteSession:  # NaN that get() read from 1.0.0: null, not a 500
            data = non_finite.cleaned(data, key, self.namespace)
        self.write_payload(key, self._codec.encode(data))

    @counting_errors
    def exists(self, key: str) -> bool:
        return any(self._transport.exists(handle) for handle in (self._handle(key), *self._older(key)))

    def delete(self, key: str) -> bool:
        """True when a key was deleted, False when there was none (under every ``key_secrets``)."""
        return self.delete_token(self._token(key))

    @counting_errors
    def delete_token(self, token: str) -> bool:
        """``delete`` for the session an ``index_token`` names (the per-user index ending it).

        Under ``key_secrets`` rotating, a move between two of the deletes (a fleet half rotated
        moves sessions both ways) would leave a copy alive: the session is looked for again as
        reads look (``token_exists``) and deleted again, ``MOVE_ROUNDS`` times at most, so a
        logout stays final. A move still in flight finds its old key gone and withdraws its new
        one (``key_moves``). The cost, only while rotating: the looks of a read that misses.
        """
        handles = self._handles_of(token)
        deleted = self._delete_handles(handles)
        for _ in range(MOVE_ROUNDS if len(handles) > 1 else 0):
            if not self._found(handles):
                break
            deleted = self._delete_handles(handles) or deleted
        if deleted:
            self._stats.count("deletes")
        return deleted

    def _delete_handles(self, handles: Sequence[str]) -> bool:
        deleted = False
        for handle in handles:
            try:
                deleted = self._transport.delete(handle) or deleted
            finally:
                self._forget(handle)
        return deleted

    @counting_errors
    def token_exists(self, token: str) -> bool:
        """Whether the session an ``index_token`` names has a key, looked at as reads look: the
        newest handle, then while ``key_secrets`` rotate each older one and the newest again, up
        to ``MOVE_ROUNDS`` rounds. A fleet half rotated moves sessions both ways, and a move
        between two looks hides a live session from both; a miss here needs one opposite move
        between every two looks (``hashed_keys.MOVE_ROUNDS``)."""
        return self._found(self._handles_of(token))

    def _found(self, handles: Sequence[str]) -> bool:
        if not handles:
            return False
        newest, older = handles[0], handles[1:]
        if self._transport.exists(newest):
            return True
        for _ in range(MOVE_ROUNDS if older else 0):
            if any(self._transport.exists(handle) for handle in older) or self._transport.exists(newest):
                return True
        return False

    # The pieces below let a caller (the session middleware) read once, compare bytes,
    # and write only what changed (the payload API: payloads.py).

    def namespaced_key(self, key: str) -> bytes:
        """The Redis key a write of ``key`` goes to: ``namespace:key`` in UTF-8, or
        ``namespace:handle`` under ``key_secrets``."""
        return self._codec.namespaced_key(self._handle(key))

    def redis_keys(self, key: str) -> tuple[bytes, ...]:
        """Every Redis key ``key`` may be under: ``namespaced_key``, then one per older secret
        while ``key_secrets`` rotate (for a caller checking that a session exists)."""
        return self.token_redis_keys(self._token(key))

    def index_token(self, key: str) -> str:
        """What the per-user index stores for session ``key``: the id itself (as 1.0.0's index
        did), or under ``key_secrets`` SHA-256 of it, which is no usable id, yet names the
        session's key under every secret (``token_redis_keys``, ``delete_token``)."""
        return self._token(key)

    def token_redis_keys(self, token: str) -> tuple[bytes, ...]:
        """``redis_keys`` of the session an ``index_token`` names."""
        return tuple(self._codec.namespaced_key(handle) for handle in self._handles_of(token))

    def encode(self, data: Any) -> bytes:
        """The JSON ``set`` writes for ``data`` (sealed on the way in under ``encryption_keys``)."""
        return self._codec.encode(data)

    def decode(self, payload: bytes | str, key: str) -> Any:
        """Data from bytes read for ``key``; ``CorruptSessionError`` when they are not JSON
        (or, under ``encryption_keys``, when no key opens them)."""
        return self.decode_stored(payload, key)[0]

    def decode_stored(self, payload: bytes | str, key: str) -> tuple[Any, bytes | str]:
        """``(data, its JSON)`` from bytes read for ``key``: the JSON is ``payload`` itself
        unless it was sealed, and is what a caller compares an unchanged session with."""
        try:
            json = self._open(payload, key)
            return self._codec.decode(json, key), json
        except CorruptSessionError:
            self._stats.count("errors")
            raise

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
        key_secrets: Sequence[bytes] | None = None,
        encryption_keys: Sequence[bytes] | None = None,
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
        checked_secrets(key_secrets)
        Sealing(encryption_keys, codec.Codec(namespace).namespaced_key)  # also: is cryptography there?
        return cls(
            connect.client_from_url(url, cluster=cluster, **client_kwargs),
            namespace,
            expiration,
            wait_replicas=wait_replicas,
            wait_timeout_ms=wait_timeout_ms,
            local_cache=local_cache,
            key_secrets=key_secrets,
            encryption_keys=encryption_keys,
        )
