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
SIZED = ("hits", "writes", "bytes_in", "bytes_out")
"""Fields that go up together with a size, through the lists of sizes ``StoreStats`` folds."""
TALLIES = tuple(field for field in FIELDS if field not in SIZED)
"""Fields that only ever go up by one, through ``count``: no lock."""
FOLD_AT = 64
"""Sizes kept (of reads, of writes) before they are folded into the totals (under the lock):
the lock's cost shared by 64 calls, and a few kilobytes held at most."""
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

    A ``+=`` shared between threads can lose counts, and a lock around it cost half of a
    read's counting, so no call on the way of a request takes one. The one-step tallies are
    ``next()`` on an ``itertools.count``, a single C call that holds the GIL throughout, so
    no increment is ever lost. Reads and writes put their sizes on a list (``append``, one C
    call), which ``_fold`` adds into the totals and the size histogram, under the lock,
    every ``FOLD_AT`` sizes and for every snapshot. That holds under the GIL: on a
    free-threaded build before Python 3.14, ``itertools.count`` is not atomic, and a tally
    may lose an increment between threads (the local cache's own counts take its lock there).
    """

    __slots__ = (
        "_attempts",
        "_attempts_sum",
        "_counts",
        "_listed_attempts",
        "_lock",
        "_misses",
        "_peeks",
        "_sizes",
        "_tallies",
        "_touches",
        "_write_sizes",
        "hit_sizes",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(FIELDS, 0)  # the tallies' entries are filled in by snapshot()
        self._tallies = {field: itertools.count() for field in TALLIES}
        self._misses = self._tallies["misses"]
        self._touches = self._tallies["touches"]
        self.hit_sizes: list[int] = []
        """Sizes of reads not yet in hits and bytes_in. A caller on every request may append a
        hit's size here itself, and ``fold`` once it holds ``FOLD_AT``: ``read`` without its frame."""
        self._write_sizes: list[int] = []  # sizes of writes not yet in writes, bytes_out, _sizes
        self._listed_attempts: list[int] = []  # write_attempts not yet in _attempts
        self._peeks = 0  # values snapshot() took from each tally to read it
        self._sizes = [0] * (len(WRITE_SIZE_BOUNDS) + 1)  # the sum is bytes_out
        self._attempts = [0] * (len(WRITE_ATTEMPT_BOUNDS) + 1)
        self._attempts_sum = 0

    def read(self, size: int | None, touched: bool = False) -> None:
        """A read that found ``size`` bytes, or nothing (None), and restarted the expiry or not."""
        if size is None:
            next(self._misses)
            return
        sizes = self.hit_sizes
        sizes.append(size)
        if touched:
            next(self._touches)
        if len(sizes) >= FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Add the listed sizes into the totals now (else a snapshot does)."""
        with self._lock:
            self._fold()

    def _fold(self) -> None:
        """Add the listed sizes into the totals; under the lock. Another thread's ``append``
        lands after the ``count`` taken here, so it stays for the next fold."""
        sizes = self.hit_sizes
        count = len(sizes)
        self._counts["hits"] += count
        self._counts["bytes_in"] += sum(sizes[:count])
        del sizes[:count]
        sizes = self._write_sizes
        count = len(sizes)
        written = sizes[:count]
        del sizes[:count]
        self._counts["writes"] += count
        self._counts["bytes_out"] += sum(written)
        for size in written:
            self._sizes[bisect.bisect_left(WRITE_SIZE_BOUNDS, size)] += 1
        listed = self._listed_attempts
        count = len(listed)
        attempts = listed[:count]
        del listed[:count]
        self._attempts_sum += sum(attempts)
        for attempt in attempts:
            self._attempts[bisect.bisect_left(WRITE_ATTEMPT_BOUNDS, attempt)] += 1

    def touched(self) -> None:
        """An expiry restarted without a read the caller waited for (the local cache's background touch)."""
        next(self._touches)

    def write(self, size: int) -> None:
        sizes = self._write_sizes
        sizes.append(size)
        if len(sizes) >= FOLD_AT:
            with self._lock:
                self._fold()

    def created(self, created: bool, size: int) -> None:
        """A ``create``: a write and a create, or a conflict when the key was taken."""
        if not created:
            self.count("conflicts")
            return
        self.write(size)
        self.count("creates")

    def write_attempts(self, attempts: int) -> None:
        """Compare-and-set calls one session write took (1: no other writer got in between)."""
        listed = self._listed_attempts
        listed.append(attempts)
        if len(listed) >= FOLD_AT:
            with self._lock:
                self._fold()

    def counter(self, field: str) -> Callable[[], object]:
        """``count(field)`` as one C call, for a caller on every request."""
        return functools.partial(next, self._tallies[field])

    def count(self, field: str) -> None:
        """One more of a field in ``TALLIES``."""
        next(self._tallies[field])

    def snapshot(self) -> dict[str, int]:
        """All fields; a tally is read by taking its next value, less the ones taken to read it."""
        with self._lock:
            self._fold()
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
            self._fold()
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
        except COUNTED_ERRORS as error:
            raise counted_failure(store._stats, key, error)  # noqa: B904  # the same error, or chained to nothing

    return counted


COUNTED_ERRORS: tuple[type[BaseException], ...] = (*CLIENT_ERRORS, UnicodeDecodeError)
"""What ``counting_errors`` counts (``counted_failure``)."""


def counted_failure(stats: StoreStats, key: str, error: BaseException) -> BaseException:
    """``error`` counted as ``counting_errors`` counts it, and what to raise for it: the error
    itself, or for bytes a decoding client could not decode ``CorruptSessionError`` (chained
    to nothing). For a hot path that catches ``COUNTED_ERRORS`` itself rather than pay the
    decorator's frame."""
    stats.count("errors")
    if isinstance(error, UnicodeDecodeError):
        corrupt = CorruptSessionError(key, f"invalid UTF-8 at byte {error.start}")
        corrupt.__suppress_context__ = True
        return corrupt
    if isinstance(error, NotReplicatedError):
        stats.count("replica_wait_failures")
    return error


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
