"""Counters a store keeps about itself, cheap enough for every call and safe across threads."""

import threading

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


class StoreStats:
    """Totals since the store was created.

    One uncontended lock per call (about 0.4 µs against a 40 µs round trip) keeps the
    sums exact under threads; a ``+=`` without it can lose counts between threads.
    """

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(FIELDS, 0)

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

    def write(self, size: int) -> None:
        with self._lock:
            self._counts["writes"] += 1
            self._counts["bytes_out"] += size

    def count(self, field: str) -> None:
        with self._lock:
            self._counts[field] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
