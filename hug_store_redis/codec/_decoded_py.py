"""The pure twin's local-cache hits of decoded sessions, beside ``_codec_py.py`` (which it would
push past 400 lines); ``_speedups.pyx`` compiles the same class in its own section.

A read-only request's cache hit is one call: ``LocalCache`` owns the entries, ``(payload,
served until, key expires at, (session, reference, owner) or None, its counted size)``, and
builds this through ``Codec.decoded_hits``.
"""

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._codec_py import Codec


class DecodedHits:
    """A cache hit and the copy in one call: ``hit(key)`` is ``(payload, a private copy of the
    session kept beside it, its reference)`` for a served entry whose touch is not due and
    whose decoded session was kept; False for such an entry with nothing kept yet (decode it
    and keep it: it is being read, not just written); else None. False and None count
    nothing: the caller reads through the cache's counted path. A session another store kept
    (``owner``: it may have been opened with keys this store lacks) is None too. No lock: see
    ``LocalCache.decoded_hits``. ``closed`` set: None from then on (the store was closed)."""

    __slots__ = (
        "__weakref__",  # the store holds its readers weakly, to close them
        "_cache",
        "_codec",
        "_entries",
        "_monotonic",
        "_never",
        "_owner",
        "_recalls",
        "_touch_below_ms",
        "check",
        "closed",
    )

    def __init__(
        self,
        cache: Any,
        entries: "OrderedDict[bytes, tuple[bytes, float, float, Any, int]]",
        recalls: "Iterator[int]",
        never: float,
        monotonic: Callable[[], float],
        codec: "Codec",
        touch_below_ms: int,
        check: Callable[[], None] | None,
        owner: object,
    ) -> None:
        self._cache = cache
        self._entries = entries
        self._recalls = recalls
        self._never = never
        self._monotonic = monotonic
        self._codec = codec
        self._touch_below_ms = float(touch_below_ms)
        self.check = check
        self.closed = False
        self._owner = owner

    def hit(self, key: str) -> tuple[bytes, Any, Any] | Literal[False] | None:
        if self.closed:
            return None
        if self.check is not None:
            self.check()
        now = self._monotonic()
        if now >= self._cache._serving_until:
            return None
        full_key = self._codec.namespaced_key(key)
        entry = self._entries.get(full_key)
        if type(entry) is not tuple or len(entry) != 5:  # None, or anything but an entry: no hit
            return None
        if now >= entry[1]:
            return None
        expires_at = entry[2]
        if expires_at is not self._never and (expires_at - now) * 1000 < self._touch_below_ms:
            return None
        kept = entry[3]
        if kept is None:  # a hit, but nothing decoded kept yet: worth decoding and keeping
            return False
        if type(kept) is not tuple or len(kept) != 3 or kept[2] is not self._owner:
            return None  # not what keep_decoded keeps, or another store kept it (its keys)
        try:  # noqa: SIM105  # as LocalCache.decoded_hits
            self._entries.move_to_end(full_key)
        except KeyError:
            pass
        next(self._recalls)
        return entry[0], self._codec.copy(kept[0]), kept[1]
