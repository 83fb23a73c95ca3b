"""Counters a store keeps about itself, cheap enough for every call and safe across threads."""

import functools
import itertools
import threading
from collections.abc import Callable

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
