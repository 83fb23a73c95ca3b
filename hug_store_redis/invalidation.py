"""Kept for old imports (``from hug_store_redis.invalidation import shared_listener``, as the docs
once showed); the listener lives in ``hug_store_redis.cache``."""

from .cache import (
    InvalidationListener,
    ListenerError,
    TLSSettings,
    UnixSocket,
    shared_listener,
    shared_unix_listener,
)

__all__ = [
    "InvalidationListener",
    "ListenerError",
    "TLSSettings",
    "UnixSocket",
    "shared_listener",
    "shared_unix_listener",
]
