"""The store's reads through its local cache: a hit sends nothing to Redis, a miss reads through.

A miss registers a placeholder (``LocalCache.begin_read``) before its command goes out, so a
read that races a write never installs stale bytes. Every miss reads the key's remaining TTL
with its value (the READ_AND_TOUCH script), so an entry never outlives its key.

Lazy expiry without round trips: a hit knows when the key expires, so it knows when a touch is
due. It then hands the touch to a small background sender (``Toucher``) and returns at once;
the sender runs the same conditional touch a miss would (it never creates a key) and drops the
entry, so the next read sees the new expiry. When the sender is saturated the entry is dropped
instead, and the next read touches on its own: the expiry slides either way.
"""

import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from ..errors import short_id
from ..transport.base import SlidingReply, Transport
from .cache_sources import Sources, sources_for
from .local_cache import LocalCache

if TYPE_CHECKING:
    from ..codec import TwinCodec
    from ..codec._decoded_py import DecodedHits

DecodedHit = tuple[bytes, Any, Any] | Literal[False] | None
"""A session hit as the middleware uses it: the stored bytes (a write's compare-and-set
base), a private copy of the decoded session, and the codec's reference for it; False: the
cache serves the bytes but keeps nothing decoded yet (decode, then ``keep_decoded``); None:
read as usual."""

logger = logging.getLogger("hug_store_redis.local_cache")
TOUCH_QUEUE_LIMIT = 256
"""Touches waiting for the sender; past that a due entry is dropped and the next read touches."""


class CachedReads:
    """Reads of one store's namespace through ``cache``; ``forget`` after each of its writes."""

    def __init__(
        self,
        cache: LocalCache,
        sources: Sources,
        transport: Transport,
        namespaced_key: Callable[[str], bytes],
        count_touch: Callable[[], None],
    ) -> None:
        self.cache = cache
        self.sources = sources
        self._transport = transport
        self._namespaced_key = namespaced_key
        self._count_touch = count_touch  # the store's stats: a touch run here is its touch
        self._check = sources.check
        self.namespace = namespace_of(namespaced_key)
        """For the log lines: the store's namespace."""
        self._toucher = Toucher(self._touch, self.namespace)
        self._disabled: str | None = None
        # Closed with the store; held weakly, so a dropped middleware's reader goes with it.
        self._decoded_hits: weakref.WeakSet[DecodedHits] = weakref.WeakSet()
        # What this store keeps decoded is its own: another store sharing the cache, on the
        # same server and namespace, may lack the keys it was opened with.
        self._owner = object()

    @property
    def serving(self) -> bool:
        """False once the server turned out to have no tracking: the store then reads Redis."""
        return self._disabled is None

    def hit(self, key: str) -> bytes | None:
        """The cached value, or None (not cached, or the cache is not serving): then call ``miss``."""
        if self._check is not None:
            self._check()
        return self.cache.get(self._namespaced_key(key))

    def hit_sliding(self, key: str, touch_below_ms: int) -> SlidingReply | None:
        """What ``miss`` would return, from the cache, or None; a hit whose touch is due queues it."""
        if self._check is not None:
            self._check()
        full_key = self._namespaced_key(key)
        found = self.cache.lookup(full_key)
        if found is None:
            return None
        payload, remaining_ms = found
        if remaining_ms >= touch_below_ms or remaining_ms == -1:
            return payload, remaining_ms, False
        if not self._toucher.submit(key, touch_below_ms):
            self.cache.invalidate(full_key)  # the sender is saturated: the next read touches itself
        return payload, remaining_ms, True

    def decoded_hits(self, touch_below_ms: int, codec: "TwinCodec") -> Callable[[str], DecodedHit]:
        """For a caller that decodes what it reads (the middleware): a hit whose decoded session
        was kept (``keep_decoded``) and whose touch is not due; else False or None (``DecodedHit``),
        counting nothing: then read through ``hit_sliding``/``miss`` as usual.

        Kept only after a hit (False), not after a miss: a session written on every request
        is never read twice from one entry, and keeping it would be work thrown away.

        The cache keeps one decoded session per entry, which no request ever holds: each hit
        hands out a copy of it (``codec.copy``), so a handler changing its session in place
        changes nobody else's. It goes with its entry (invalidation, flush, eviction), so it is
        served exactly when the bytes would be. One call into the codec's twin, no lock
        (``LocalCache.decoded_hits``): this is the read-only request's hit.
        """
        hits = self.cache.decoded_hits(codec, touch_below_ms, self._check, self._owner)
        self._decoded_hits.add(hits)
        return hits.hit

    def keep_decoded(self, key: str, payload: bytes | str, session: Any, reference: Any, size: int) -> None:
        """Keep ``session`` (a private copy, never handed out) and ``reference``, decoded from
        ``payload``, with ``key``'s entry while it holds that very ``payload``; ``size``, a
        bound on the memory they hold, counts against ``max_bytes``."""
        if isinstance(payload, bytes):
            self.cache.remember(self._namespaced_key(key), payload, (session, reference, self._owner), size)

    def forget(self, key: str) -> None:
        """This process wrote or deleted ``key``: read it from Redis next time (read-your-writes)."""
        self.cache.invalidate(self._namespaced_key(key))

    def miss(self, key: str, touch_below_ms: int = 0) -> SlidingReply:
        """What ``Transport.read_sliding`` returns, read through the cache with a placeholder.

        ``touch_below_ms`` 0 never touches (a plain read that also learns the remaining TTL).
        """
        cache = self.cache
        token = cache.begin_read(self._namespaced_key(key))
        if not token.valid:  # not serving: the cache installs nothing from this read
            self._wake_sources()
        try:
            payload, remaining_ms, touched = self._transport.read_sliding(key, touch_below_ms)
        except BaseException:
            cache.cancel_read(token)
            raise
        # A decoding client's str is handed back but not cached: the cache holds bytes.
        cache.finish_read(token, payload if isinstance(payload, bytes) else None, remaining_ms)
        return payload, remaining_ms, touched

    def _touch(self, key: str, touch_below_ms: int) -> None:
        try:
            _, _, touched = self._transport.read_sliding(key, touch_below_ms)
        except Exception as error:  # the entry goes: the next read tries again, in the request
            logger.debug("[%s] background touch of %s failed: %s", self.namespace, short_id(key), error)
        else:
            if touched:
                self._count_touch()
        finally:
            self.forget(key)

    def _wake_sources(self) -> None:
        """Restart listeners lost to a fork; give the cache up for good on a server without tracking."""
        if self._disabled is not None:
            return
        self.sources.start()
        reason = self.sources.unsupported()
        if reason is not None:
            self._disabled = reason
            logger.warning("[%s] local cache off: %s; reads go to Redis", self.namespace, reason)
            self.sources.close(stop_if_idle=True)

    def close(self) -> None:
        """Detach from the listeners (ending a listener no other cache uses) and stop the toucher."""
        for hits in list(self._decoded_hits):  # a reader handed out before serves no more
            hits.closed = True
        self.sources.close(stop_if_idle=True)
        self._toucher.stop()


class Toucher:
    """A daemon thread that runs due touches in the background, each key at most once in the queue."""

    def __init__(
        self, touch: Callable[[str, int], None], namespace: str = "", limit: int = TOUCH_QUEUE_LIMIT
    ) -> None:
        self._touch = touch
        self._namespace = namespace
        self._limit = limit
        self._reset()
        _TOUCHERS.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._queued: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def submit(self, key: str, touch_below_ms: int) -> bool:
        """Queue a touch of ``key``; False (nothing queued) when ``limit`` touches already wait."""
        with self._lock:
            if key in self._queued:
                return True
            if self._stopped or len(self._queued) >= self._limit:
                return False
            self._queued.add(key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hug_store_redis touches", daemon=True)
                self._thread.start()
        self._queue.put((key, touch_below_ms))
        return True

    @property
    def waiting(self) -> int:
        return len(self._queued)

    def stop(self) -> None:
        """End the thread after the touch it runs, dropping those still queued (the closed store's
        reads go to Redis and touch there). For good: ``submit`` refuses from now on."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._queue.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stopped:
                return
            key, touch_below_ms = item
            try:
                self._touch(key, touch_below_ms)
            except Exception:  # never let the thread die: due entries would pile up
                logger.exception("[%s] background touch of %s failed", self._namespace, short_id(key))
            finally:
                with self._lock:
                    self._queued.discard(key)


_TOUCHERS: "weakref.WeakSet[Toucher]" = weakref.WeakSet()


def _reset_in_child() -> None:
    for toucher in list(_TOUCHERS):
        toucher._reset()


os.register_at_fork(after_in_child=_reset_in_child)


def cached_reads_for(
    client: Any,
    cache: LocalCache,
    transport: Transport,
    namespaced_key: Callable[[str], bytes],
    count_touch: Callable[[], None],
) -> CachedReads | None:
    """A store's reads through ``cache``, or None (logged once) when this client cannot have one."""
    sources = sources_for(client, cache, namespaced_key(""))
    if isinstance(sources, str):
        logger.warning("[%s] local cache off: %s; reads go to Redis", namespace_of(namespaced_key), sources)
        return None
    return CachedReads(cache, sources, transport, namespaced_key, count_touch)


def namespace_of(namespaced_key: Callable[[str], bytes]) -> str:
    """The namespace a store's ``namespaced_key`` puts in front (``b"shop:"`` for ``""``: ``shop``)."""
    return namespaced_key("")[:-1].decode("utf-8", "backslashreplace")


def cache_of(local_cache: "bool | LocalCache") -> LocalCache | None:
    """The cache a store's ``local_cache`` option asks for (True: the defaults)."""
    if local_cache is False:
        return None
    if local_cache is True:
        return LocalCache()
    if isinstance(local_cache, LocalCache):
        return local_cache
    raise TypeError(f"local_cache must be True, False or a LocalCache, not {type(local_cache).__name__}")
