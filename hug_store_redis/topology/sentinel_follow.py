"""Follow Sentinel failovers so a store stops writing to a demoted primary at once.

redis-py resolves the primary only when it opens a connection, so pooled connections keep
writing to the old primary after a failover. That server stays a writable primary until the
sentinels reconfigure it (their ~10 s ``INFO`` period), then resyncs from the new primary and
discards every write it took in between. Here one daemon thread per process and master
(``sentinel_listener.py``) hears the client's sentinels: store writes are held while a
promotion awaits confirmation, and on ``+switch-master`` every connection to the old primary
is dropped at once, so the next command resolves the new one. Between switch events a write
that meets a demoted primary (``READONLY``) is retried once.
"""

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError

from .addresses import Address, address_of
from .client_internals import require_supported
from .sentinel_listener import HOLD_LIMIT_S, MasterFollower, Switch

__all__ = [
    "Following",
    "MasterFollower",
    "Switch",
    "follow",
    "follower_of",
    "is_sentinel_managed",
]
T = TypeVar("T")


def is_sentinel_managed(client: Any) -> bool:
    """Duck typing on the pool, never the client's class: what redis.sentinel's pool offers."""
    pool = getattr(client, "connection_pool", None)
    return all(hasattr(pool, name) for name in ("service_name", "sentinel_manager", "get_master_address"))


class Following:
    """What a store holds for a Sentinel-managed client: its pool and the follower of its master."""

    def __init__(self, pool: Any, follower: MasterFollower) -> None:
        self.pool = pool
        self.follower = follower

    def call(self, operation: Callable[[], T]) -> T:
        """``operation``, held while a promotion awaits confirmation; retried once if a switch
        interrupted it or it met a demoted primary."""
        flow = self.follower.writes_flow
        if not flow.is_set():
            flow.wait(HOLD_LIMIT_S)
        generation = self.follower.generation
        try:
            return operation()
        except (RedisConnectionError, ReadOnlyError) as error:
            if _met_demoted_primary(error):
                self.pool.disconnect(inuse_connections=False)  # the idle ones are on it too
            elif self.follower.generation == generation:
                raise
        return operation()


_FOLLOWERS: dict[tuple[str, tuple[Address, ...]], MasterFollower] = {}
_FOLLOWERS_LOCK = threading.Lock()


def follow(client: Any) -> Following | None:
    """Start following ``client``'s master when it is Sentinel-managed (as a primary); else None."""
    if not is_sentinel_managed(client):
        return None
    pool = client.connection_pool
    if not getattr(pool, "is_master", True):
        return None  # a replica pool (slave_for) is read-only by design
    sentinels = list(pool.sentinel_manager.sentinels)
    if not sentinels:
        return None
    require_supported(pool)  # at store construction: never a follower that cannot cut connections
    key = (str(pool.service_name), tuple(sorted(address_of(sentinel) for sentinel in sentinels)))
    with _FOLLOWERS_LOCK:
        follower = _FOLLOWERS.get(key)
        if follower is None:
            follower = _FOLLOWERS[key] = MasterFollower(str(pool.service_name), sentinels)
    follower.add(pool)
    return Following(pool, follower)


def follower_of(client: Any) -> MasterFollower | None:
    """The follower watching ``client``'s master in this process, if any (for tests and tools)."""
    pool = getattr(client, "connection_pool", None)
    with _FOLLOWERS_LOCK:
        return next((f for f in _FOLLOWERS.values() if pool in f._pools), None)


def _restart_in_child() -> None:
    global _FOLLOWERS_LOCK
    _FOLLOWERS_LOCK = threading.Lock()
    for follower in _FOLLOWERS.values():
        follower.restart_after_fork()


os.register_at_fork(after_in_child=_restart_in_child)


def _met_demoted_primary(error: Exception) -> bool:
    # redis-py's Sentinel connection turns READONLY into this ConnectionError on a master pool.
    return isinstance(error, ReadOnlyError) or "previous master is now a slave" in str(error)
