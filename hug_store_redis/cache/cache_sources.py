"""Where a store's local cache hears invalidations: one listener per server the client writes to.

- A plain client: the process's shared listener for its host and port, or its Unix socket
  path; over TLS (``ssl=True``, ``rediss://``, ``SSLConnection``) a TLS listener with the
  client's own TLS settings (``listener_endpoints.tls_settings``), shared only by clients
  with the same address, TLS settings and credentials.
- A Sentinel-managed client: one listener whose address is the current primary, asked of the
  sentinels on every reconnection; a switch the follower saw (``sentinel_follow``) resets it,
  which empties the cache and re-points the listener before it serves again.
- A Cluster client: the shared listener of every primary in the client's slot map; when the
  map changes (a MOVED, a failover, a resharding) the cache empties, stops serving and attaches
  to the new primaries.

A cache belongs to one server and one database (``claim``): its entries are keyed by key
name alone, so a cache shared with a store on another database or server would serve that
one's values for this one's keys. Such a store is refused with a ValueError.

A client the cache cannot follow gets a reason instead, which the store logs once before
running without the cache: TLS options the listener cannot reproduce (OCSP checks, a
connection class with its own TLS, an unknown ``ssl_*`` option), TLS on a Cluster or through
Sentinel (not supported yet: their listeners would speak plain TCP), a Sentinel replica
client, or a client whose server cannot be told.
"""

import dataclasses
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ..topology import sentinel_follow
from ..topology.addresses import Address, address_of
from ..topology.cluster import slot_map
from .invalidation import InvalidationListener, refuses_tracking
from .listener_endpoints import tls_settings
from .local_cache import LocalCache
from .shared_listeners import shared_listener, shared_sentinel_listener, shared_unix_listener


class Sources:
    """The listeners one cache is attached to; ``check`` runs on every hit and must stay cheap."""

    check: Callable[[], None] | None = None

    def __init__(self, cache: LocalCache, prefix: bytes) -> None:
        self.cache = cache
        self.prefix = prefix
        self.listeners: list[InvalidationListener] = []

    def attach(self, listener: InvalidationListener) -> None:
        listener.attach(self.cache, self.prefix)
        listener.start()
        self.listeners.append(listener)

    def start(self) -> None:
        """Restart the listeners' threads if they are gone (after a fork); cheap when running."""
        for listener in self.listeners:
            listener.start()

    def unsupported(self) -> str | None:
        """Why the server can never serve this cache (no CLIENT TRACKING), once a listener found out."""
        for listener in self.listeners:
            error = listener.last_error
            if refuses_tracking(error):
                return f"the server refused invalidation tracking ({error})"
        return None

    def close(self, *, stop_if_idle: bool = False) -> None:
        for listener in self.listeners:
            listener.detach(self.cache, stop_if_idle=stop_if_idle)
        self.listeners.clear()


class SentinelSources(Sources):
    """One listener on the current primary, reset when the follower saw a switch."""

    def __init__(self, cache: LocalCache, prefix: bytes, pool: Any, follower: Any) -> None:
        super().__init__(cache, prefix)
        self._follower = follower
        self._generation = follower.generation
        kwargs = pool.connection_kwargs
        listener = shared_sentinel_listener(pool, kwargs.get("username"), kwargs.get("password"))
        self.attach(listener)
        self.check = self._check_switch

    def _check_switch(self) -> None:
        generation = self._follower.generation
        if generation != self._generation:
            self._generation = generation
            for listener in self.listeners:
                listener.reset()


class ClusterSources(Sources):
    """The shared listener of every primary; a changed slot map empties the cache and re-attaches."""

    def __init__(self, cache: LocalCache, prefix: bytes, client: Any) -> None:
        super().__init__(cache, prefix)
        self._client = client
        self._lock = threading.Lock()
        self._closed = False
        kwargs = getattr(client.nodes_manager, "connection_kwargs", {})
        self._credentials = kwargs.get("username"), kwargs.get("password")
        self._map = slot_map(client)
        for address in sorted(set(self._map)):
            self._attach_primary(address)
        dispatcher = getattr(client.nodes_manager, "_event_dispatcher", None)
        if dispatcher is not None:
            from redis.event import AfterSlotsCacheRefreshEvent

            dispatcher.register_listeners({AfterSlotsCacheRefreshEvent: [_OnRefresh(self)]})
        self.check = self._check_map if dispatcher is None else None

    def _check_map(self) -> None:  # a client without refresh events: compared on every hit
        if slot_map(self._client) != self._map:
            self.refreshed()

    def refreshed(self) -> None:
        """The client re-read the slot map: if anything moved, flush and follow the new primaries."""
        with self._lock:
            new_map = slot_map(self._client)
            if new_map == self._map or self._closed:
                return
            self._map = new_map
            for listener in self.listeners:
                self.cache.revoke(listener)  # empty, and not serving until every primary vouches
            wanted = set(new_map)
            for listener in list(self.listeners):
                if listener.address not in wanted:
                    listener.detach(self.cache, stop_if_idle=True)  # no thread left pinging a demoted node
                    self.listeners.remove(listener)
            have = {listener.address for listener in self.listeners}
            for address in sorted(wanted - have):
                self._attach_primary(address)

    def close(self, *, stop_if_idle: bool = False) -> None:
        with self._lock:
            self._closed = True  # a later slot refresh must not attach the cache again
            super().close(stop_if_idle=stop_if_idle)

    def _attach_primary(self, address: Address) -> None:
        username, password = self._credentials
        self.attach(shared_listener(*address, username=username, password=password))


class _OnRefresh:
    """redis-py's event listener interface (``listen``), called after every slot-map refresh."""

    def __init__(self, sources: ClusterSources) -> None:
        self._sources = sources

    def listen(self, event: object) -> None:
        self._sources.refreshed()


@dataclasses.dataclass(frozen=True)
class CacheServer:
    """The server and database a cache's entries come from (no credentials: it is printed)."""

    kind: str
    addresses: frozenset[str]
    db: int

    def same_as(self, other: "CacheServer") -> bool:
        """Same kind and database and an address in common (a Cluster's primaries move)."""
        return self.kind == other.kind and self.db == other.db and bool(self.addresses & other.addresses)

    def __str__(self) -> str:
        return f"{self.kind} {', '.join(sorted(self.addresses))} db {self.db}"


_CLAIMS: "weakref.WeakKeyDictionary[LocalCache, CacheServer]" = weakref.WeakKeyDictionary()
_CLAIMS_LOCK = threading.Lock()


def claim(cache: LocalCache, server: CacheServer) -> None:
    """Bind ``cache`` to ``server`` for good (its first store's); ValueError for another one."""
    with _CLAIMS_LOCK:
        owner = _CLAIMS.setdefault(cache, server)
    if not owner.same_as(server):
        raise ValueError(
            f"this LocalCache holds keys of {owner}; a store on {server} needs its own LocalCache "
            "(entries are keyed by key name alone, so a shared cache would serve one database's "
            "values for the other's keys)"
        )


def sources_for(client: Any, cache: LocalCache, prefix: bytes) -> "Sources | str":
    """The listeners for ``client``'s servers with ``cache`` attached, or why there can be none.

    ValueError when ``cache`` already serves another server or database (``claim``).
    """
    if hasattr(client, "nodes_manager") and hasattr(client, "get_primaries"):
        cluster_kwargs = getattr(client.nodes_manager, "connection_kwargs", {})
        if tls_settings(cluster_kwargs, cluster_kwargs.get("connection_class")) is not None:
            return "the invalidation listener does not support TLS on a Cluster yet"
        claim(cache, CacheServer("Redis Cluster", frozenset(f"{h}:{p}" for h, p in slot_map(client)), 0))
        return ClusterSources(cache, prefix, client)
    pool = getattr(client, "connection_pool", None)
    kwargs: dict[str, Any] = getattr(pool, "connection_kwargs", None) or {}
    db = int(kwargs.get("db") or 0)
    tls = tls_settings(kwargs, getattr(pool, "connection_class", None))
    if isinstance(tls, str):
        return tls
    if sentinel_follow.is_sentinel_managed(client):
        if tls is not None:
            return "the invalidation listener does not support TLS through Sentinel yet"
        following = sentinel_follow.follow(client)
        if following is None:
            return "a Sentinel replica client (or no sentinels) has no primary to follow"
        managed = client.connection_pool
        sentinels = frozenset(f"{h}:{p}" for h, p in map(address_of, managed.sentinel_manager.sentinels))
        claim(cache, CacheServer(f"Sentinel service {managed.service_name}", sentinels, db))
        return SentinelSources(cache, prefix, client.connection_pool, following.follower)
    credentials = {"username": kwargs.get("username"), "password": kwargs.get("password")}
    if kwargs.get("path"):
        claim(cache, CacheServer("unix", frozenset([str(kwargs["path"])]), db))
        listener = shared_unix_listener(str(kwargs["path"]), **credentials)
    elif "host" in kwargs and "port" in kwargs:
        claim(cache, CacheServer("redis", frozenset([f"{kwargs['host']}:{kwargs['port']}"]), db))
        listener = shared_listener(str(kwargs["host"]), int(kwargs["port"]), tls=tls, **credentials)
    else:
        return f"cannot tell which server a {type(client).__name__} talks to"
    sources = Sources(cache, prefix)
    sources.attach(listener)
    return sources
