"""One listener per process and server, shared by every store on that server.

A second connection tracking the same prefixes would double the server's pushes and the
process's work for nothing, so stores attach to the listener of their server's address,
TLS settings and credentials (``shared_listener``). The registry's lock is renewed in a
forked child, whose copy may be held by a thread that did not survive the fork.
"""

import os
import threading
from typing import Any

from ..topology.addresses import Address, address_of
from .invalidation import InvalidationListener
from .listener_endpoints import TLSSettings, UnixSocket

__all__ = ["shared_listener", "shared_sentinel_listener", "shared_unix_listener"]

_SHARED: dict[tuple[Any, ...], InvalidationListener] = {}
_SHARED_LOCK = threading.Lock()


def shared_listener(
    host: str,
    port: int,
    *,
    tls: TLSSettings | None = None,
    username: str | None = None,
    password: str | None = None,
) -> InvalidationListener:
    """The process's one listener for a server, started: every store on that server attaches to it.

    Keyed by everything that makes the connection (address, TLS settings, credentials), so a
    store never hears invalidations through a connection verified differently from its own.
    After a fork, call it (or ``start()``) again in the child: the child's caches serve once
    its own connection is tracking.
    """
    return _shared((host, port), tls, username, password)


def shared_unix_listener(
    path: str, *, username: str | None = None, password: str | None = None
) -> InvalidationListener:
    """``shared_listener`` for a server reached through the Unix socket at ``path``."""
    return _shared(UnixSocket(path), None, username, password)


def _shared(
    address: Address | UnixSocket, tls: TLSSettings | None, username: str | None, password: str | None
) -> InvalidationListener:
    key = (address, tls, username, password)
    with _SHARED_LOCK:
        listener = _SHARED.get(key)
        if listener is None:
            listener = InvalidationListener(address, tls=tls, username=username, password=password)
            _SHARED[key] = listener
    return listener.start()


_SENTINEL_LISTENERS: dict[tuple[str, tuple[Address, ...]], InvalidationListener] = {}
_SENTINEL_LOCK = threading.Lock()


def shared_sentinel_listener(pool: Any, username: str | None, password: str | None) -> InvalidationListener:
    """The process's one listener for a Sentinel-managed master (per service and sentinels)."""
    sentinels = tuple(sorted(address_of(s) for s in pool.sentinel_manager.sentinels))
    key = (str(pool.service_name), sentinels)
    with _SENTINEL_LOCK:
        listener = _SENTINEL_LISTENERS.get(key)
        if listener is None:
            listener = InvalidationListener(pool.get_master_address, username=username, password=password)
            _SENTINEL_LISTENERS[key] = listener
    return listener


def _new_lock_in_child() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)
