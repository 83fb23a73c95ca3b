"""A bounded, process-local copy of session bytes that Redis keeps correct.

The cache holds raw payloads by Redis key. It never decides on its own that an entry is
current: it serves only under a *lease* that an invalidation listener renews each time a
heartbeat proves that the server's invalidations reach this process. When the lease lapses
or is revoked, reads go to Redis. See docs/local-cache.md for the consistency model.

Reads that miss use the placeholder technique: ``begin_read`` registers the key before the
command is sent, an invalidation (or a flush) that arrives before ``finish_read`` voids the
read, and a void read's result is returned to the caller but never installed. A write that
Redis executed after our read therefore always removes what the read installs, whatever
order the reply and the invalidation arrive in.
"""

import itertools
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING

from .cache_options import gil_enabled, positive_int
from .cache_options import positive_seconds as positive_seconds  # invalidation.py imports it here

if TYPE_CHECKING:
    from ..codec import TwinCodec
    from ..codec._decoded_py import DecodedHits

NO_EXPIRY = -1
"""The remaining TTL Redis reports (PTTL, READ_AND_TOUCH) for a key without an expiry."""

STAT_FIELDS = ("hits", "misses", "invalidations", "flushes", "evictions", "reconnects")
"""``reconnects``: a source vouching again after it lost the flow (failed closed, then recovered)."""


_UNSEEN = object()
_NEVER = float("inf")  # one object for every entry whose key never expires


class ReadToken:
    """A read in flight: cached by ``finish_read`` only if nothing voided it meanwhile."""

    __slots__ = ("epoch", "key", "seen", "started", "valid")

    def __init__(self, key: bytes, epoch: int, started: float, valid: bool) -> None:
        self.key = key
        self.epoch = epoch
        self.started = started
        self.valid = valid
        self.seen: object = _UNSEEN
        """What the first read of the same key to finish meanwhile returned."""


class LocalCache:
    """An LRU of payload bytes by Redis key, bounded by entries, bytes and age.

    ``max_entries`` and ``max_bytes`` (the sum of key and payload lengths, and of what
    ``remember`` was told a derived value costs; Python adds a fixed overhead per entry, see
    docs/local-cache.md) bound memory; ``max_age`` (seconds)
    bounds how long an entry is served without being read again from Redis, whatever
    the invalidations say. An entry also never outlives its key: ``finish_read`` takes the
    key's remaining TTL.

    One lock guards every change; a hit or a miss takes none (under the GIL a dict read and an
    LRU move are atomic), and counters are exact under threads (C counters for hits and misses,
    the rest under the lock). An entry may also hold what a caller derived from its payload
    (``remember``: the store keeps the decoded session there), which ``decoded_hits`` serves.
    """

    def __init__(
        self, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024, max_age: float = 60.0
    ) -> None:
        self.max_entries = positive_int("max_entries", max_entries)
        self.max_bytes = positive_int("max_bytes", max_bytes)
        self.max_age = positive_seconds("max_age", max_age)
        self._lock = threading.Lock()
        # payload, served until, key expires at, what a caller derived from the payload (or
        # None), and the bytes ``_bytes`` counts for what was derived (0 for None)
        self._entries: OrderedDict[bytes, tuple[bytes, float, float, object, int]] = OrderedDict()
        self._pending: dict[bytes, list[ReadToken]] = {}
        self._bytes = 0
        self._epoch = 0
        self._leases: dict[object, float] = {}
        self._vouched: set[object] = set()  # sources that granted a lease at least once
        self._serving_until = 0.0
        self._counts = dict.fromkeys(STAT_FIELDS, 0)
        # Hits and misses are counted without the lock, each by a C counter (exact under
        # threads); ``stats`` reads one by taking its next value, less those taken to read it.
        self._hits = itertools.count()
        self._misses = itertools.count()
        self._peeks = 0
        self.lock_free = gil_enabled()
        """Hits take no lock (``lookup``, ``decoded_hits``): sound only under the GIL, so a
        free-threaded build (3.13t) reads under the lock and the store keeps nothing decoded."""
        if not self.lock_free:
            self.lookup = self._locked_lookup  # type: ignore[method-assign]
        _LIVE_CACHES.add(self)

    # -- the read path -------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        """The cached payload, or None: a miss, an expired entry, or a cache not serving."""
        found = self.lookup(key)
        return None if found is None else found[0]

    def lookup(self, key: bytes) -> tuple[bytes, int] | None:
        """Like ``get``, with the key's remaining ms in Redis (at least 1; -1: it never expires).

        For a store that slides expiry: it tells when a touch is due without asking Redis.
        No lock but for an expired entry's removal, as ``decoded_hits``: a hit sees the entry
        as it was before or after an ``invalidate`` or a flush, as a reader taking the lock would.
        """
        now = monotonic()
        if now < self._serving_until:
            entry = self._entries.get(key)
            if entry is not None:
                if now < entry[1]:
                    try:  # noqa: SIM105  # contextlib.suppress costs a hit several times this
                        self._entries.move_to_end(key)
                    except KeyError:  # invalidated since the read above: a hit just before it
                        pass
                    next(self._hits)
                    expires_at = entry[2]
                    if expires_at is _NEVER:
                        return entry[0], -1
                    return entry[0], max(int((expires_at - now) * 1000), 1)
                with self._lock:
                    if self._entries.get(key) is entry:  # not replaced meanwhile
                        self._remove(key)
        next(self._misses)
        return None

    def _locked_lookup(self, key: bytes) -> tuple[bytes, int] | None:
        """``lookup`` under the lock, for a build without the GIL."""
        with self._lock:
            now = monotonic()
            if now < self._serving_until:
                entry = self._entries.get(key)
                if entry is not None:
                    if now < entry[1]:
                        self._entries.move_to_end(key)
                        next(self._hits)
                        expires_at = entry[2]
                        if expires_at is _NEVER:
                            return entry[0], -1
                        return entry[0], max(int((expires_at - now) * 1000), 1)
                    self._remove(key)
            next(self._misses)
            return None

    def decoded_hits(
        self, codec: "TwinCodec", touch_below_ms: int, check: Callable[[], None] | None, owner: object
    ) -> "DecodedHits":
        """Hits of entries with a decoded session kept (``remember``), one call each, in the
        codec's twin (``codec.DecodedHits``): ``(payload, a private copy of the session, its
        reference)`` when the cache serves, the entry is within its deadline and its touch
        (``touch_below_ms``, as ``lookup``'s caller judges it) is not due; else None, counting
        nothing, and the caller reads through ``lookup``, which counts and handles the rest.
        Only what ``owner`` kept is served: stores sharing this cache may hold other keys
        (``encryption_keys``), and a session one opened is not another's to read.

        No lock: under the GIL the dict read is atomic, so a hit sees the entry as it was
        before or after an ``invalidate`` or a flush, as a reader taking the lock would; the
        LRU move tolerates the key leaving meanwhile, and the hit is counted by a C counter,
        exact under threads (the same counter as ``lookup``'s hits).
        """
        entries, recalls = self._entries, self._hits
        return codec.decoded_hits(self, entries, recalls, _NEVER, monotonic, touch_below_ms, check, owner)

    def remember(self, key: bytes, payload: bytes, derived: object, size: int) -> bool:
        """Keep ``derived`` (a value computed from ``payload`` alone) with ``key``'s entry, if
        the entry holds that very ``payload`` object; True when kept.

        The identity check ties what is kept to the exact bytes the entry serves: an entry
        replaced, invalidated or flushed since ``payload`` was read keeps nothing, and
        whatever is kept goes with its entry. ``size`` (what ``derived`` holds in memory, as
        the caller bounds it) counts against ``max_bytes`` until the entry goes, so keeping it
        may evict the oldest entries; an entry it would push past ``max_bytes`` alone keeps
        nothing.
        """
        with self._lock:
            entries = self._entries
            entry = entries.get(key)
            if entry is None or entry[0] is not payload:
                return False
            if len(key) + len(payload) + size > self.max_bytes:
                return False
            entries[key] = (payload, entry[1], entry[2], derived, size)
            self._bytes += size - entry[4]
            while len(entries) > self.max_entries or self._bytes > self.max_bytes:
                old_key, old = entries.popitem(last=False)
                self._bytes -= len(old_key) + len(old[0]) + old[4]
                self._counts["evictions"] += 1
            return key in entries

    def begin_read(self, key: bytes) -> ReadToken:
        """Register a read of ``key`` from Redis; call before the command is sent."""
        now = monotonic()
        with self._lock:
            if now >= self._serving_until:
                return ReadToken(key, self._epoch, now, False)
            token = ReadToken(key, self._epoch, now, True)
            self._pending.setdefault(key, []).append(token)
            return token

    def finish_read(self, token: ReadToken, payload: bytes | None, ttl_ms: int) -> bool:
        """Install what the read returned unless it was voided; True when installed.

        ``ttl_ms`` is the key's remaining TTL as Redis reported it (``NO_EXPIRY`` for none);
        the entry's deadline counts from ``begin_read``, so it falls before the key expires.
        Missing keys (``payload`` None) are never cached.
        """
        key = token.key
        with self._lock:  # _release and _remove written out: every miss runs this
            pending = self._pending
            others = pending.get(key)
            if others is not None and token in others:
                others.remove(token)
                if not others:
                    del pending[key]
            # Did an overlapping read of the key return other bytes? Then a write ran in
            # between. Its invalidation is on its way, but until it lands an older payload
            # installed by one read could be served after the other returned the newer one.
            # Neither is cached and the entry goes, so a process never steps back to an older
            # version it has moved past.
            for other in others or ():  # the reads of the key still in flight
                if other.seen is _UNSEEN:
                    other.seen = payload
                elif other.seen != payload:
                    other.valid = False
            entries = self._entries
            if token.seen is not _UNSEEN and token.seen != payload:  # another read saw other bytes
                old = entries.pop(key, None)
                if old is not None:
                    self._bytes -= len(key) + len(old[0]) + old[4]
                return False
            if not token.valid or token.epoch != self._epoch or payload is None:
                return False
            max_age = self.max_age
            if ttl_ms == NO_EXPIRY:
                lifetime, expires = max_age, _NEVER
            elif ttl_ms > 0:
                ttl_s = ttl_ms / 1000
                lifetime, expires = (max_age if max_age < ttl_s else ttl_s), token.started + ttl_s
            else:
                return False
            size = len(key) + len(payload)
            if size > self.max_bytes or token.started + lifetime <= monotonic():
                return False
            old = entries.pop(key, None)
            if old is not None:
                self._bytes -= len(key) + len(old[0]) + old[4]
            entries[key] = (payload, token.started + lifetime, expires, None, 0)
            self._bytes += size
            while len(entries) > self.max_entries or self._bytes > self.max_bytes:
                old_key, old = entries.popitem(last=False)
                self._bytes -= len(old_key) + len(old[0]) + old[4]
                self._counts["evictions"] += 1
            return True

    def cancel_read(self, token: ReadToken) -> None:
        """Forget a read that failed (the Redis call raised)."""
        with self._lock:
            self._release(token)

    def read_through(self, key: bytes, fetch: Callable[[], tuple[bytes | None, int]]) -> bytes | None:
        """The cached payload, else ``fetch()`` (payload, remaining TTL in ms) cached if still valid."""
        payload = self.get(key)
        if payload is not None:
            return payload
        token = self.begin_read(key)
        try:
            payload, ttl_ms = fetch()
        except BaseException:
            self.cancel_read(token)
            raise
        self.finish_read(token, payload, ttl_ms)
        return payload

    # -- what the invalidation side calls --------------------------------------------------

    def invalidate(self, key: bytes) -> None:
        """Drop ``key`` and void reads of it in flight (a write happened, here or elsewhere)."""
        with self._lock:
            self._counts["invalidations"] += 1
            old = self._entries.pop(key, None)  # _remove, written out: every write runs this
            if old is not None:
                self._bytes -= len(key) + len(old[0]) + old[4]
            for token in self._pending.pop(key, ()):
                token.valid = False

    def flush(self) -> None:
        """Drop everything and void every read in flight; serving state is unchanged."""
        with self._lock:
            self._flush()

    def grant(self, source: object, until: float) -> None:
        """``source`` vouches that invalidations flow until ``until`` (a ``monotonic()`` time).

        The cache serves while every attached source vouches for it: one listener per
        server, several under a Cluster manager.
        """
        with self._lock:
            if source in self._leases:
                if not self._leases[source] and source in self._vouched:
                    self._counts["reconnects"] += 1
                self._vouched.add(source)
                self._leases[source] = max(self._leases[source], until)
                self._serving_until = min(self._leases.values())

    def revoke(self, source: object) -> None:
        """``source`` can no longer vouch: empty the cache and stop serving until it grants again."""
        with self._lock:
            if source in self._leases:
                self._leases[source] = 0.0
            self._serving_until = 0.0
            self._flush()

    def attach(self, source: object) -> None:
        """Count ``source`` among those that must vouch; the cache stops serving until it does."""
        with self._lock:
            self._leases[source] = 0.0
            self._serving_until = 0.0

    def detach(self, source: object) -> None:
        self.revoke(source)
        with self._lock:
            self._leases.pop(source, None)
            self._vouched.discard(source)

    # -- state -----------------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        """True while hits may be served (a lease is current)."""
        return monotonic() < self._serving_until

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        """Always True: with ``__len__`` alone an empty cache would be falsy, and caller code such
        as ``local_cache=cache or False`` would silently turn caching off."""
        return True

    def stats(self) -> dict[str, int]:
        """Counters since creation (exact under threads), the current size, and ``serving`` (1 or 0)."""
        with self._lock:
            hits, misses = next(self._hits) - self._peeks, next(self._misses) - self._peeks
            self._peeks += 1
            counts = dict(self._counts, hits=hits, misses=misses)
            counts.update(entries=len(self._entries), bytes=self._bytes, serving=int(self.serving))
            return counts

    # -- internals, called with the lock held ----------------------------------------------

    def _remove(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(key) + len(entry[0]) + entry[4]

    def _release(self, token: ReadToken) -> None:
        tokens = self._pending.get(token.key)
        if tokens is not None and token in tokens:
            tokens.remove(token)
            if not tokens:
                del self._pending[token.key]

    def _flush(self) -> None:
        self._counts["flushes"] += 1
        self._epoch += 1
        self._entries.clear()
        self._pending.clear()
        self._bytes = 0

    def _after_fork_in_child(self) -> None:
        """The child has no listener and may have forked while a thread held the lock."""
        self._lock = threading.Lock()
        self._leases = dict.fromkeys(self._leases, 0.0)
        self._serving_until = 0.0
        self._flush()


_LIVE_CACHES: "weakref.WeakSet[LocalCache]" = weakref.WeakSet()


def _reset_caches_in_child() -> None:
    for cache in list(_LIVE_CACHES):
        cache._after_fork_in_child()


# A fork copies the entries but not the listener thread: the child starts empty and not
# serving, at no cost on the hit path (os.getpid() is a system call: 0.18 µs here).
os.register_at_fork(after_in_child=_reset_caches_in_child)
