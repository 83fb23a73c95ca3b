"""The payload API the middleware uses: read once, compare bytes, write only what changed.

``PayloadMixin`` gives ``RedisStore`` these operations. Each takes a session id and maps it
once, here, to what Redis holds: ``_handle`` (the id, or its HMAC under the newest of
``key_secrets``, ``hashed_keys.py``) and ``_seal``/``_open`` (nothing, or AES-GCM under
``encryption_keys``, ``sealing.py``). A payload given to a write is the JSON from ``encode``;
a payload read back, and a compare-and-set's ``expected_payload``, are the bytes Redis holds.

A read that finds nothing under the newest handle tries the older ones (``_older``, empty
without a rotation) and then the newest once more: a move (``key_moves.py``) creates the new
key before it deletes the old one, so a session moved between the first two reads is found
by the third. A fleet half rotated also moves it back between the second and the third, so
the round is repeated, ``MOVE_ROUNDS`` times in all (``hashed_keys.py`` says why that bound).
A read that hits under the newest stays one round trip. A read whose lazy touch is due and
that finds the session under an older secret, or sealed under an older key, renews it
(``renewals.py``). The conditional writes (``conditional_writes.py``) map and seal alike.
"""

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..transport.base import SlidingReply, Transport
from .checks import require_bytes
from .hashed_keys import MOVE_ROUNDS
from .results import SlidingRead
from .stats import COUNTED_ERRORS, FOLD_AT, StoreStats, counted_failure, counting_errors

if TYPE_CHECKING:
    from ..cache.cached_reads import CachedReads


class PayloadMixin:
    """``RedisStore``'s payload-level reads and writes, through its transport and cache."""

    expiration: int | None
    hashed_keys: bool
    _transport: Transport
    _stats: StoreStats
    _cached: "CachedReads | None"
    _handle: Callable[[str], str]
    _older: Callable[[str], tuple[str, ...]]
    _seal: Callable[[bytes, str], bytes]
    _open: Callable[[Any, str], Any]
    _stale: Callable[[Any], bool]
    _renewed: Callable[..., bytes | str]

    def read_payload(self, key: str, *, touch: bool = False) -> bytes | str | None:
        """The stored value, or None; with ``touch``, the expiry restarts in the same round trip.

        GETEX (Redis >= 6.2) reads and slides the expiry in one command; older servers
        get GET and EXPIRE pipelined without MULTI, still one round trip.
        """
        read = self._read_and_touch if touch else self._read_cached
        newest = self._handle(key)
        payload = read(newest)
        if payload is None:
            older = self._older(key)
            for _ in range(MOVE_ROUNDS if older else 0):
                for handle in older:
                    payload = read(handle)
                    if payload is not None:
                        return self._renewed(key, handle, payload) if touch else payload
                payload = read(newest)  # moved to the newest between the reads
                if payload is not None:
                    break
        if touch and payload is not None and self._stale(payload):  # a touch is a write: renew with it
            return self._renewed(key, newest, payload)
        return payload

    def _read_cached(self, handle: str) -> bytes | str | None:
        cached = self._cached
        payload = cached.hit(handle) if cached is not None else None
        return self._read(handle) if payload is None else payload

    @counting_errors
    def _read(self, handle: str) -> bytes | str | None:
        """From Redis (through the cache's placeholder when there is one); counted."""
        cached = self._cached  # read once: close() may run in another thread
        payload = self._transport.read(handle) if cached is None else cached.miss(handle)[0]
        self._stats.read(None if payload is None else len(payload))
        return payload

    @counting_errors
    def _read_and_touch(self, handle: str) -> bytes | str | None:
        """A touch on every read is a write: the cache cannot save it a round trip."""
        payload = self._transport.read_and_touch(handle)
        self._forget(handle)
        self._stats.read(None if payload is None else len(payload), touched=self.expiration is not None)
        return payload

    def read_payload_sliding(self, key: str, touch_after: float) -> SlidingRead:
        """The stored value (None when absent) and its remaining ms, sliding the expiry lazily.

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
        payload = self.read_payload(key, touch=True)
        assert self.expiration is not None
        return payload, -2 if payload is None else self.expiration * 1000, payload is not None

    def _read_sliding_below(self, touch_below_ms: int, key: str) -> SlidingReply:
        handle = self._handle(key) if self.hashed_keys else key  # without key_secrets the id itself
        cached = self._cached
        if cached is not None:
            hit = cached.hit_sliding(handle, touch_below_ms)
            if hit is not None:
                if hit[2] and self._stale(hit[0]):
                    return self._renewed(key, handle, hit[0]), hit[1], True
                return hit
            reply = self._read_sliding(handle, touch_below_ms)
        else:  # _read_sliding inline: the read every request without a local cache makes
            try:
                reply = self._transport.read_sliding(handle, touch_below_ms)
            except COUNTED_ERRORS as error:
                raise counted_failure(self._stats, handle, error)  # noqa: B904  # as counting_errors raises
            payload = reply[0]
            if payload is None or reply[2]:
                self._stats.read(None if payload is None else len(payload), reply[2])
            else:  # a hit that slid nothing, every request's: StoreStats.read without its frame
                sizes = self._stats.hit_sizes
                sizes.append(len(payload))
                if len(sizes) >= FOLD_AT:
                    self._stats.fold()
        if reply[0] is None:
            older = self._older(key)
            for _ in range(MOVE_ROUNDS if older else 0):
                for old in older:
                    reply = self._read_sliding(old, touch_below_ms)
                    if reply[0] is not None:  # a due touch moves it to the newest (renewals.py)
                        return (self._renewed(key, old, reply[0]), reply[1], True) if reply[2] else reply
                reply = self._read_sliding(handle, touch_below_ms)  # moved to the newest meanwhile
                if reply[0] is not None:
                    break
        if reply[2] and reply[0] is not None and self._stale(reply[0]):
            return self._renewed(key, handle, reply[0]), reply[1], True
        return reply

    def _read_sliding(self, handle: str, touch_below_ms: int) -> SlidingReply:
        """Counted as ``counting_errors`` counts, inline: the read every request makes."""
        cached = self._cached
        try:
            if cached is None:
                reply = self._transport.read_sliding(handle, touch_below_ms)
            else:
                reply = cached.miss(handle, touch_below_ms)
        except COUNTED_ERRORS as error:
            raise counted_failure(self._stats, handle, error)  # noqa: B904  # as counting_errors raises
        payload = reply[0]
        self._stats.read(None if payload is None else len(payload), reply[2])
        return reply

    @counting_errors
    def write_payload(self, key: str, payload: bytes) -> None:
        """Write bytes from ``encode`` and restart the expiry (last writer wins)."""
        require_bytes(payload)
        handle = self._handle(key)
        stored = self._seal(payload, key)
        try:
            self._transport.write(handle, stored)
        finally:
            self._forget(handle)
        self._stats.write(len(stored))
        self._drop_older(key)

    @counting_errors
    def replace_payload(self, key: str, payload: bytes, old_key: str) -> None:
        """Write ``payload`` under ``key`` and delete ``old_key``, in one round trip.

        For rotating a session id at login. Two single-key commands pipelined without
        MULTI, so it stays Cluster-safe; a failure between them leaves the old key, which
        expires on its own.
        """
        require_bytes(payload)
        handle, old_handle = self._handle(key), self._handle(old_key)
        stored = self._seal(payload, key)
        try:
            self._transport.replace(handle, stored, old_handle)
        finally:
            self._forget(handle, old_handle)
        self._stats.write(len(stored))
        self._stats.count("deletes")
        self._drop_older(old_key)

    def _drop_older(self, key: str) -> None:
        """Delete ``key``'s copies under older secrets (none without a rotation): a session
        written under the newest must not come back from an older one."""
        for handle in self._older(key):
            try:
                self._transport.delete(handle)
            finally:
                self._forget(handle)

    def _forget(self, *handles: str) -> None:
        """After a write, acknowledged or not: this process reads the keys from Redis next time."""
        cached = self._cached
        if cached is not None:
            for handle in handles:
                cached.forget(handle)

    def _flush_local_cache(self) -> None:
        cached = self._cached
        if cached is not None:
            cached.cache.flush()
