"""Counters a store keeps about itself, cheap enough for every call and safe across threads."""

import bisect
import functools
import itertools
import threading
from collections.abc import Callable
from typing import Concatenate, NamedTuple, ParamSpec, Protocol, TypeVar

from ..clients.families import CLIENT_ERRORS
from ..errors import CorruptSessionError, NotReplicatedError

FIELDS = (
    "hits",
    "misses",
    "touches",
    "writes",
    "creates",
    "skipped_writes",
    "conflicts",
    "merges",
    "deletes",
    "errors",
    "replica_wait_failures",
    "bytes_in",
    "bytes_out",
)
SIZED = ("hits", "misses", "touches", "writes", "creates", "bytes_in", "bytes_out")
"""Fields that ``read`` and ``write`` update together, under the lock."""
TALLIES = tuple(field for field in FIELDS if field not in SIZED)
"""Fields that only ever go up by one, through ``count``: no lock."""
CACHE_FIELDS = {
    "cache_hits": "hits",
    "cache_misses": "misses",
    "invalidations": "invalidations",
    "cache_flushes": "flushes",
    "cache_reconnects": "reconnects",
    "cache_serving": "serving",
}
"""``stats()`` names for the local cache's own counts (0 without a cache)."""

WRITE_ATTEMPT_BOUNDS = (1, 2, 3, 5, 10)
"""Upper bounds of the compare-and-set attempts buckets: 10 is the middleware's limit."""
WRITE_SIZE_BOUNDS = (256, 1024, 4096, 16384, 65536, 262144, 1048576)
"""Upper bounds, in bytes, of the written-size buckets (a session cookie's worth up to 1 MiB)."""


class Histogram(NamedTuple):
    """A distribution as Prometheus and OpenTelemetry take it: ``counts[i]`` observations at
    most ``bounds[i]`` and above the bound before (the last one: above every bound)."""

    bounds: tuple[int, ...]
    counts: tuple[int, ...]
    sum: int

    @property
    def total(self) -> int:
        """Observations in every bucket."""
        return sum(self.counts)


class StoreStats:
    """Totals since the store was created.

    Reads and writes add sizes too, so they take one uncontended lock (about 0.4 µs
    against a 40 µs round trip); a ``+=`` without it can lose counts between threads.
    The one-step tallies skip the lock: ``next()`` on an ``itertools.count`` is a single C
    call that holds the GIL throughout, so no increment is ever lost, and the middleware's
    skipped write, which has no round trip to hide behind, costs almost nothing.
    """

    __slots__ = ("_attempts", "_attempts_sum", "_counts", "_lock", "_peeks", "_sizes", "_tallies")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(FIELDS, 0)  # the tallies' entries are filled in by snapshot()
        self._tallies = {field: itertools.count() for field in TALLIES}
        self._peeks = 0  # values snapshot() took from each tally to read it
        self._sizes = [0] * (len(WRITE_SIZE_BOUNDS) + 1)  # the sum is bytes_out
        self._attempts = [0] * (len(WRITE_ATTEMPT_BOUNDS) + 1)
        self._attempts_sum = 0

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
            self._sizes[bisect.bisect_left(WRITE_SIZE_BOUNDS, size)] += 1

    def created(self, created: bool, size: int) -> None:
        """A ``create``: a write and a create, or a conflict when the key was taken."""
        if not created:
            self.count("conflicts")
            return
        self.write(size)
        with self._lock:
            self._counts["creates"] += 1

    def write_attempts(self, attempts: int) -> None:
        """Compare-and-set calls one session write took (1: no other writer got in between)."""
        with self._lock:
            self._attempts[bisect.bisect_left(WRITE_ATTEMPT_BOUNDS, attempts)] += 1
            self._attempts_sum += attempts

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
        for name, field in CACHE_FIELDS.items():
            counts[name] = cache.get(field, 0)
        return counts

    def histograms(self) -> dict[str, Histogram]:
        """``write_attempts`` (per session write through the middleware) and ``write_bytes`` (per write)."""
        with self._lock:
            return {
                "write_attempts": Histogram(WRITE_ATTEMPT_BOUNDS, tuple(self._attempts), self._attempts_sum),
                "write_bytes": Histogram(WRITE_SIZE_BOUNDS, tuple(self._sizes), self._counts["bytes_out"]),
            }


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
        except CLIENT_ERRORS as error:
            store._stats.count("errors")
            if isinstance(error, NotReplicatedError):
                store._stats.count("replica_wait_failures")
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
