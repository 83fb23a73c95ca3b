"""Decoded sessions kept by the local cache: a read-only request's hit without decoding.

A mixin of ``RedisStore``, as ``PayloadMixin`` is. A cache hit returns the bytes Redis held;
decoding them is most of what a hit costs the middleware. So, once the middleware has decoded
an entry's bytes, the cache keeps a private decoded copy beside them (``keep_decoded``) and
each later hit hands out a fresh copy of it (``decoded_reader``), which costs a fraction of
decoding. What is kept is a function of the entry's bytes and goes with them, so nothing here
changes what is served or when: invalidations, the placeholders and fail-closed behave as
for the bytes.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .. import codec
    from ..cache.cached_reads import CachedReads, DecodedHit


class DecodedReadsMixin:
    """``decoded_reader`` and ``keep_decoded``: what the middleware's cached read uses."""

    expiration: int | None
    _cached: "CachedReads | None"
    _codec: "codec.TwinCodec"
    _handle: Callable[[str], str]
    hashed_keys: bool

    def decoded_reader(self, touch_after: float) -> "Callable[[str], DecodedHit] | None":
        """For ``sliding_reader(touch_after)``'s caller: a local-cache hit of a session decoded
        before, as ``(stored bytes, a private copy of the session, the codec's reference)``;
        False when the cache serves the bytes with nothing decoded yet (read with
        ``sliding_reader``, decode, then ``keep_decoded``); None otherwise (read with
        ``sliding_reader``, which counts).

        None instead of a reader when there is no local cache, ``touch_after`` is 0 (every
        read touches in Redis), or the cache reads under its lock (a free-threaded build: the
        reader's hits rely on the GIL). A hit whose touch is due is left to ``sliding_reader`` too.
        """
        cached = self._cached
        if cached is None or touch_after == 0 or not cached.cache.lock_free:
            return None
        expiration = self.expiration
        touch_below_ms = 0 if expiration is None else int((expiration - touch_after) * 1000)
        hits = cached.decoded_hits(touch_below_ms, self._codec)
        if not self.hashed_keys:  # the handle is the id: no call in between
            return hits
        handle = self._handle
        return lambda key: hits(handle(key))

    def keep_decoded(
        self, key: str, payload: bytes | str, session: Any, reference: Any, json: bytes | str
    ) -> None:
        """``session`` was decoded from ``json`` (``payload`` itself, unless sealed), read as
        ``payload`` for ``key`` (``reference`` is the codec's for it): let the cache keep a
        private copy while its entry holds ``payload``, counted as ``kept_bytes(json)``."""
        cached = self._cached
        if cached is None:
            return
        try:
            kept = self._codec.keep(session, reference)
        except RecursionError:  # deeper than the codec copies: decoded on every read, as before
            return
        cached.keep_decoded(self._handle(key), payload, kept, reference, kept_bytes(json))


def kept_bytes(json: bytes | str) -> int:
    """A bound on the memory a kept session decoded from ``json`` holds (its tree, its
    reference and the tuples around them), for ``max_bytes``: never below what tracemalloc
    measured in either twin, for flat and nested, small and large, ASCII and non-ASCII
    sessions (tests/store/test_kept_bytes.py); about twice it for a typical session.

    Counted from the JSON, not the tree (a walk would cost what keeping saves): each byte
    (a string may decode to 4 bytes a character, and the pure twin's reference re-encodes
    it), each element (a ``,``), each key (a ``:``) and each container (a ``{`` or ``[``);
    those inside strings only add to the bound.
    """
    data = json.encode() if isinstance(json, str) else json
    return (
        8 * len(data)
        + 64 * data.count(b",")
        + 128 * data.count(b":")
        + 256 * (data.count(b"{") + data.count(b"["))
        + KEPT_OVERHEAD
    )


KEPT_OVERHEAD = 256
"""The tuples an entry's kept session adds, whatever its size."""
