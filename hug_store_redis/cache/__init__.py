"""The opt-in local cache: session bytes kept in the process while the server's invalidations
are known to flow, and the listener (its connection, RESP3 reader and endpoints) that hears them."""

from .cached_reads import CachedReads, cache_of, cached_reads_for
from .invalidation import InvalidationListener, ListenerError, refuses_tracking
from .listener_endpoints import TLSSettings, UnixSocket, tls_settings
from .local_cache import NO_EXPIRY, LocalCache
from .shared_listeners import shared_listener, shared_sentinel_listener, shared_unix_listener

__all__ = [
    "NO_EXPIRY",
    "CachedReads",
    "InvalidationListener",
    "ListenerError",
    "LocalCache",
    "TLSSettings",
    "UnixSocket",
    "cache_of",
    "cached_reads_for",
    "refuses_tracking",
    "shared_listener",
    "shared_sentinel_listener",
    "shared_unix_listener",
    "tls_settings",
]
