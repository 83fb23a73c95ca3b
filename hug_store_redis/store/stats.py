"""Counters a store keeps about itself, cheap enough for every call and safe across threads."""

import functools
import itertools
import threading
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from ..clients.families import CLIENT_ERRORS
from ..errors import CorruptSessionError

FIELDS = (
    "hits",
    "misses",
    "touches",
    "writes",
    "skipped_writes",
    "conflicts",
    "deletes",
    "errors",
    "bytes_in",
    "bytes_out",
)
SIZED = ("hits", "misses", "touches", "writes", "bytes_in", "bytes_out")
"""Fields that ``read`` and ``write`` update together, under the lock."""
TALLIES = tuple(field for field in FIELDS if field not in SIZED)
"""Fields that only ever go up by one, through ``count``: no lock."""


class StoreStats:
    """Totals since the store was created.

    Reads and writes add sizes too, so they take one uncontended lock (about 0.4 µs
    against a 40 µs round trip); a ``+=`` without it can lose counts between threads.
    The one-step tallies skip the lock: ``next()`` on an ``itertools.count`` is a single C
    call that holds the GIL throughout, so no increment is ever lost, and the middleware's
    skipped write, which has no round trip to hide behind, costs almost nothing.
    """

    __slots__ = ("_counts", "_lock", "_peeks", "_tallies")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(FIELDS, 0)  # the tallies' entries are filled in by snapshot()
        self._tallies = {field: itertools.count() for field in TALLIES}
        self._peeks = 0  # values snapshot() took from each tally to read it

    def read(self, size: int | None, touched: bool = False) -> None:
        """A read that found ``size`` bytes, or nothing (None), and restarted the expiry or not."""
        with self._lock:
            if size is None:
                self._counts["misses"] += 1
            else:
                self._counts["hits"] += 1
                self._counts["bytes_in"] += size
                if touched:
                    self._counts["touches"] += 1

    def touched(self) -> None:
        """An expiry restarted without a read the caller waited for (the local cache's background touch)."""
        with self._lock:
            self._counts["touches"] += 1

    def write(self, size: int) -> None:
        with self._lock:
            self._counts["writes"] += 1
            self._counts["bytes_out"] += size

    def counter(self, field: str) -> Callable[[], object]:
        """``count(field)`` as one C call, for a caller on every request."""
        return functools.partial(next, self._tallies[field])

    def count(self, field: str) -> None:
        """One more of a field in ``TALLIES``."""
        next(self._tallies[field])

    def snapshot(self) -> dict[str, int]:
        """All fields; a tally is read by taking its next value, less the ones taken to read it."""
        with self._lock:
            counts = dict(self._counts)
            for field, tally in self._tallies.items():
                counts[field] = next(tally) - self._peeks
            self._peeks += 1
        return counts

    def snapshot_with(self, cache: dict[str, int]) -> dict[str, int]:
        """``snapshot`` and a local cache's counts (empty: none), as ``RedisStore.stats`` shows them."""
        counts = self.snapshot()
        counts["hits"] += cache.get("hits", 0)  # bytes_in counts only what came from Redis
        counts["cache_hits"] = cache.get("hits", 0)
        counts["cache_misses"] = cache.get("misses", 0)
        counts["invalidations"] = cache.get("invalidations", 0)
        counts["cache_flushes"] = cache.get("flushes", 0)
        return counts


class _Counted(Protocol):
    _stats: StoreStats


_S = TypeVar("_S", bound=_Counted)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def counting_errors(
    method: Callable[Concatenate[_S, str, _P], _R],
) -> Callable[Concatenate[_S, str, _P], _R]:
    """Count every failed round trip once, whichever transport ran it, and re-raise.

    A decoding client (``decode_responses=True``) that meets non-UTF-8 bytes raises
    ``UnicodeDecodeError`` deep in redis-py; the caller gets ``CorruptSessionError`` instead.
    """

    @functools.wraps(method)
    def counted(store: _S, key: str, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(store, key, *args, **kwargs)
        except CLIENT_ERRORS:
            store._stats.count("errors")
            raise
        except UnicodeDecodeError as error:
            store._stats.count("errors")
            raise CorruptSessionError(key, f"invalid UTF-8 at byte {error.start}") from None

    return counted


def counting_failures(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """``counting_errors`` for an operation on no session key (admin, the user index): a failed
    round trip is counted once and raised as it came."""

    @functools.wraps(method)
    def counted(store: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(store, *args, **kwargs)
        except CLIENT_ERRORS:
            store._stats.count("errors")
            raise

    return counted
