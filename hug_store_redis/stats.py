"""Kept for old imports (``from hug_store_redis.stats import StoreStats``, as the docs once showed);
the counters live in ``hug_store_redis.store``."""

from .store import StoreStats

__all__ = ["StoreStats"]
