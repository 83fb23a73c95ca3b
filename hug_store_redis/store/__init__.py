"""RedisStore: hug's store API, the payload API the middleware uses, admin, and its counts."""

from .checks import expiration_seconds
from .redis_store import RedisStore
from .results import GONE, WRITTEN, SlidingRead, WriteOutcome, WriteStatus
from .stats import Histogram, StoreStats

__all__ = [
    "GONE",
    "WRITTEN",
    "Histogram",
    "RedisStore",
    "SlidingRead",
    "StoreStats",
    "WriteOutcome",
    "WriteStatus",
    "expiration_seconds",
]
