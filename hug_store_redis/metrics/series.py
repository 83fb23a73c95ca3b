"""The series both exporters publish, named once, read from ``store.stats()`` at collection time.

Nothing here runs per request: the store keeps its counts anyway (``store/stats.py``), and an
exporter only reads them when it is scraped or collected.
"""

from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol

from ..store import Histogram

PREFIX = "hug_store_redis_"


class Counted(Protocol):
    """What an exporter needs of a store (``RedisStore`` has it)."""

    namespace: str

    def stats(self) -> dict[str, int]: ...

    def histograms(self) -> dict[str, Histogram]: ...

    @property
    def local_cache(self) -> object | None: ...


class Series(NamedTuple):
    """One counter: its name without the prefix and ``_total``, the ``stats()`` key(s) it adds up."""

    name: str
    keys: tuple[str, ...]
    help: str


COUNTERS = (
    Series("reads", ("hits", "misses"), "Session reads, from Redis or the local cache."),
    Series("hits", ("hits",), "Reads that found a session."),
    Series("misses", ("misses",), "Reads that found no session."),
    Series("touches", ("touches",), "Reads or background touches that restarted a session's expiry."),
    Series("writes", ("writes",), "Values written, new sessions included."),
    Series("creates", ("creates",), "New sessions written."),
    Series("skipped_writes", ("skipped_writes",), "Requests that changed nothing and wrote nothing."),
    Series("conflicts", ("conflicts",), "Conditional writes that found another writer's value."),
    Series("merges", ("merges",), "Conflicts resolved by re-applying a request's change."),
    Series("deletes", ("deletes",), "Sessions deleted."),
    Series("errors", ("errors",), "Redis errors and corrupt values."),
    Series("replica_wait_failures", ("replica_wait_failures",), "Writes too few replicas acknowledged."),
    Series("bytes_in", ("bytes_in",), "Bytes of the values read from Redis."),
    Series("bytes_out", ("bytes_out",), "Bytes of the values written."),
)
CACHE_COUNTERS = (
    Series("cache_hits", ("cache_hits",), "Reads the local cache served."),
    Series("cache_misses", ("cache_misses",), "Reads the local cache had no current copy for."),
    Series("cache_invalidations", ("invalidations",), "Keys dropped from the local cache."),
    Series("cache_flushes", ("cache_flushes",), "Times the local cache emptied itself."),
    Series(
        "cache_listener_reconnects",
        ("cache_reconnects",),
        "Times the invalidation listener vouched again after losing the flow.",
    ),
)
SERVING = Series(
    "cache_serving", ("cache_serving",), "1 while the local cache serves, 0 while it fails closed."
)
HISTOGRAMS = {
    "write_attempts": "Compare-and-set calls per session write.",
    "write_bytes": "Bytes per value written.",
}
"""``store.histograms()`` keys; the series keep the names (``write_bytes``: bytes, the unit, last)."""


def counters_of(store: Counted) -> Iterator[tuple[Series, int]]:
    """Every counter of ``store`` with its value: the cache's only for a store that has a cache."""
    stats = store.stats()
    series = COUNTERS + CACHE_COUNTERS if store.local_cache is not None else COUNTERS
    for one in series:
        yield one, sum(stats[key] for key in one.keys)


def serving_of(store: Counted) -> int | None:
    """1 or 0 for a store with a local cache; None without one."""
    return None if store.local_cache is None else store.stats()["cache_serving"]


def cumulative(histogram: Histogram) -> list[tuple[str, int]]:
    """Buckets as both formats take them: ``(upper bound, observations at most that)``, ``+Inf`` last."""
    buckets = []
    total = 0
    for bound, count in zip((*map(str, histogram.bounds), "+Inf"), histogram.counts, strict=True):
        total += count
        buckets.append((bound, total))
    return buckets


def stores_of(stores: Iterable[Counted]) -> tuple[Counted, ...]:
    """The stores, checked: at least one, namespaces apart (the label tells their series apart)."""
    found = tuple(stores)
    if not found:
        raise ValueError("no store to export: pass one or more RedisStore")
    seen: set[str] = set()
    for store in found:
        if not callable(getattr(store, "stats", None)) or not hasattr(store, "namespace"):
            raise TypeError(f"expected a RedisStore, got {type(store).__name__}")
        if store.namespace in seen:
            raise ValueError(
                f"two stores share the namespace {store.namespace!r}: their series would collide; "
                "export them through separate registries"
            )
        seen.add(store.namespace)
    return found
