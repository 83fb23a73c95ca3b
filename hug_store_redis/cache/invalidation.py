"""The one connection per process and server that keeps local caches correct.

``CLIENT TRACKING on BCAST PREFIX <namespace>:`` on a dedicated RESP3 connection: the
server pushes ``invalidate`` messages for every write to a key under a tracked prefix, and
``null`` for FLUSHALL/FLUSHDB. SWAPDB sends nothing: each heartbeat is ``INFO
commandstats``, and a change in SWAPDB's call count empties the caches. RESP3 rather than
RESP2 with ``REDIRECT`` to a connection subscribed to ``__redis__:invalidate``: one socket
carries both the invalidations and the heartbeat, so a heartbeat's reply proves that the
very stream the invalidations travel on is alive and drained (up to the server's event-loop
pass before the heartbeat: BCAST messages are queued at the end of each pass). With a
redirect, two connections (the tracking one and the subscriber) can fail separately, and
RESP2 tells the tracking side nothing when the subscriber goes. BCAST keeps no per-key table
on the server, so reads need no tracking at all and go through the store's ordinary
connections.

Fail closed: caches serve under a lease of ``heartbeat_interval + heartbeat_timeout``
seconds from the sending of the last heartbeat answered in time. Any error, a dropped
connection, a late reply, a changed ``run_id`` (a restarted server behind a proxy) or
``reset()`` revokes it at once (the caches empty themselves); a new connection must
register tracking and answer a heartbeat before caches serve again.
"""

import contextlib
import logging
import os
import selectors
import socket
import threading
import weakref
from collections.abc import Callable
from time import monotonic
from typing import Any

from ..clients.families import CLIENT_ERRORS
from ..topology.addresses import Address
from .listener_endpoints import TLSSettings, UnixSocket
from .local_cache import LocalCache, positive_seconds
from .resp3 import ProtocolError, Push, ReplyError
from .tracking import ListenerError, TrackingConnection, run_id_of, swapdb_calls_of

__all__ = ["InvalidationListener", "ListenerError", "TLSSettings", "UnixSocket", "refuses_tracking"]
logger = logging.getLogger("hug_store_redis.invalidation")  # the name it had before the move


class _Expected:
    """A reply we wait for: what it answers, when it was sent, whom it vouches for."""

    __slots__ = ("caches", "kind", "sent")

    def __init__(self, kind: str, sent: float, caches: tuple[LocalCache, ...] = ()) -> None:
        self.kind = kind
        self.sent = sent
        self.caches = caches


class InvalidationListener:
    """Tracks key prefixes on one server for any number of caches, on a daemon thread.

    ``address`` is ``(host, port)``, a ``UnixSocket``, or a callable returning ``(host, port)``,
    asked again on every reconnection (a Sentinel manager passes
    ``lambda: sentinel.discover_master(name)``). ``tls`` (TCP only) wraps the socket as the
    client's own connections are wrapped. A Cluster manager holds one listener per primary
    and attaches each cache to all.
    """

    def __init__(
        self,
        address: Address | UnixSocket | Callable[[], Address],
        *,
        tls: TLSSettings | None = None,
        username: str | None = None,
        password: str | None = None,
        heartbeat_interval: float = 0.25,
        heartbeat_timeout: float = 1.0,
        run_id_every: int = 4,
        retry_delay: float = 0.05,
        max_retry_delay: float = 1.0,
        on_invalidation: Callable[[list[bytes] | None], None] | None = None,
        client_name: str = "hug_store_redis:invalidations",
    ) -> None:
        if tls is not None and isinstance(address, UnixSocket):
            raise ValueError("TLS over a Unix socket is not supported")
        self._address = address
        self._tls = tls
        self._username = username
        self._password = password
        self.heartbeat_interval = positive_seconds("heartbeat_interval", heartbeat_interval)
        self.heartbeat_timeout = positive_seconds("heartbeat_timeout", heartbeat_timeout)
        self.lease = self.heartbeat_interval + self.heartbeat_timeout
        """The longest a cache serves after invalidations stop arriving, however they stop."""
        self._run_id_every = max(1, run_id_every)
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._on_invalidation = on_invalidation
        self._client_name = client_name
        self._subscriptions: list[tuple[bytes, LocalCache]] = []  # replaced whole, never mutated:
        # the thread reads it for every push without the lock
        self._unregistered: list[tuple[bytes, LocalCache]] = []
        self._lock = threading.Lock()
        self._generation = 0
        self._stopping = False
        self._stop_when_idle = False
        self._thread: threading.Thread | None = None
        self._connection: TrackingConnection[_Expected] | None = None
        self._wake_reader, self._wake_writer = socket.socketpair()
        self.run_id: str | None = None
        self.client_id: int | None = None
        self.connects = 0
        """Connections tried (each reconnection counts)."""
        self.sessions = 0
        """Tracking connections that reached the serving state."""
        self.restarts_seen = 0
        self.swaps_seen = 0
        self._swaps: int | None = None  # SWAPDB's call count at this connection's last heartbeat
        self.last_error: BaseException | None = None
        _LIVE_LISTENERS.add(self)

    # -- the owner's side --------------------------------------------------------------------

    @property
    def address(self) -> "Address | UnixSocket | Callable[[], Address]":
        """What the listener connects to (a Sentinel-managed one: asked of the sentinels each time)."""
        return self._address

    def attach(self, cache: LocalCache, prefix: bytes | str) -> None:
        """Invalidate ``cache`` for writes to keys starting with ``prefix`` (``namespace:``)."""
        key_prefix = prefix.encode() if isinstance(prefix, str) else bytes(prefix)
        if not key_prefix:
            raise ValueError("prefix must not be empty: tracking every key of the server is not supported")
        with self._lock:
            if (key_prefix, cache) in self._subscriptions:
                return
            cache.attach(self)
            self._subscriptions = [*self._subscriptions, (key_prefix, cache)]
            self._unregistered.append((key_prefix, cache))
            self._stop_when_idle = False
        self._wake()

    def detach(self, cache: LocalCache, *, stop_if_idle: bool = False) -> None:
        """Stop invalidating ``cache`` (it empties and stops serving).

        ``stop_if_idle``: with no cache left, also end the thread and its connection (a later
        ``attach`` cancels that, ``start()`` brings an ended thread back): for a store that
        closes, or a server that refuses tracking, where the thread only retries in vain.
        """
        with self._lock:
            self._subscriptions = [(p, c) for p, c in self._subscriptions if c is not cache]
            self._unregistered = [(p, c) for p, c in self._unregistered if c is not cache]
            if stop_if_idle and not self._subscriptions:
                self._stop_when_idle = True
        cache.detach(self)
        self._wake()

    def start(self) -> "InvalidationListener":
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name=self._client_name, daemon=True)
                self._thread.start()
        return self

    def reset(self) -> None:
        """Empty every cache now and reconnect (re-resolving the address) before serving again.

        For the owner to call when the topology changed under it (Sentinel switch-master,
        Cluster slots moved) or whenever it doubts the caches.
        """
        with self._lock:
            self._generation += 1
            for _, cache in self._subscriptions:
                cache.revoke(self)
        self._wake()

    def close(self) -> None:
        """Stop the thread, close the connection and leave the caches empty and not serving."""
        thread = self._thread
        self._stopping = True
        self.reset()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            for _, cache in self._subscriptions:
                cache.detach(self)
            self._subscriptions = []

    def __enter__(self) -> "InvalidationListener":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self._retry_delay
        while not self._exiting():
            with self._lock:
                generation = self._generation
            sessions_before = self.sessions
            try:
                self._session(generation)
            except (OSError, ProtocolError, ReplyError, ListenerError) as error:
                if self.sessions > sessions_before or str(error) != str(self.last_error):
                    # A server without tracking is for good: the store that owns the cache says so,
                    # once. With no cache attached (a shared listener between stores) nothing is lost.
                    namespaces = self._namespaces()
                    level = logging.DEBUG if refuses_tracking(error) or not namespaces else logging.WARNING
                    where = f"[{namespaces}] local cache off, invalidations lost ({self._where()})"
                    logger.log(level, "%s: %s", where, error)
                self.last_error = error
            except Exception as error:  # a bug must not end the thread: the caches would never serve again
                logger.exception(
                    "[%s] local cache not serving: the invalidation listener failed", self._namespaces()
                )
                self.last_error = error
            finally:
                self._end_session()
            if self._stopping or self._idle():
                continue  # the loop's test decides, under the lock, against a concurrent attach
            if self.sessions > sessions_before or generation != self._generation:
                delay = self._retry_delay  # was serving, or asked to reconnect: try again at once
            else:
                self._sleep(delay)
                delay = min(delay * 2, self._max_retry_delay)

    def _session(self, generation: int) -> None:
        self.connects += 1
        address = self._resolve()
        connection: TrackingConnection[_Expected] = TrackingConnection(
            address, self._wake_reader, self.heartbeat_timeout, self._tls
        )
        self._connection = connection
        with self._lock:
            self._unregistered = list(self._subscriptions)
        now = monotonic()
        connection.hello(_Expected("hello", now), self._client_name, self._username, self._password)
        connection.send(_Expected("setup-info", now), "INFO", "server")
        beats = 0
        next_beat = now
        self._swaps = None  # the caches are empty: the first heartbeat sets the baseline
        confirmed = False
        while not self._stopping and not self._idle() and generation == self._generation:
            if self._unregistered:  # attach() wakes the thread after adding, so none waits unseen
                with self._lock:
                    new, self._unregistered = self._unregistered, []
                connection.track(_Expected("tracking", monotonic()), [prefix for prefix, _ in new])
            now = monotonic()
            if not connection.pending and now >= next_beat:
                beats += 1
                with self._lock:
                    caches = tuple(
                        cache for prefix, cache in self._subscriptions if connection.covers(prefix)
                    )
                if beats % self._run_id_every == 0:
                    connection.send(_Expected("info", now), "INFO", "server")
                connection.send(_Expected("heartbeat", now, caches), "INFO", "commandstats")
                next_beat = now + self.heartbeat_interval
            oldest = connection.pending[0] if connection.pending else None
            if oldest is not None and now >= oldest.sent + self.heartbeat_timeout:
                raise ListenerError(f"no reply to {oldest.kind.upper()} within {self.heartbeat_timeout}s")
            wait = oldest.sent + self.heartbeat_timeout - now if oldest is not None else next_beat - now
            for what, message in connection.receive(wait):
                if what is None:
                    self._on_push(message)
                elif self._on_reply(what, message, generation) and not confirmed:
                    confirmed = True
                    self.sessions += 1
                    logger.info(
                        "[%s] local cache serving: invalidations flow from %s",
                        self._namespaces(),
                        self._where(),
                    )

    def _idle(self) -> bool:
        return self._stop_when_idle and not self._subscriptions

    def _exiting(self) -> bool:
        """Whether the thread ends now; decided under the lock so ``start()`` never sees a thread
        that is about to end as the one that will serve a cache attached meanwhile."""
        with self._lock:
            if not (self._stopping or self._idle()):
                return False
            if self._thread is threading.current_thread():
                self._thread = None
            return True

    def _resolve(self) -> Address | UnixSocket:
        if not callable(self._address):
            return self._address
        try:
            return self._address()
        except CLIENT_ERRORS as error:  # sentinels naming no master mid-failover: retried
            raise ListenerError(f"no server to listen to yet: {error}") from error

    def _on_reply(self, what: _Expected, reply: Any, generation: int) -> bool:
        """Act on a reply; True when it answered a heartbeat in time (the flow is confirmed)."""
        if what.kind == "hello":
            self.client_id = int(reply.get(b"id", -1)) if isinstance(reply, dict) else None
        elif what.kind in ("setup-info", "info"):
            run_id = run_id_of(reply)
            previous, self.run_id = self.run_id, run_id
            if previous is not None and previous != run_id:
                self.restarts_seen += 1
                if what.kind == "info":
                    raise ListenerError(
                        f"server restarted behind the connection (run_id {previous} -> {run_id})"
                    )
        if what.kind != "heartbeat":
            return False
        swaps, self._swaps = self._swaps, swapdb_calls_of(reply)
        if swaps is not None and swaps != self._swaps:  # a SWAPDB (or CONFIG RESETSTAT) since the last beat
            self.swaps_seen += 1
            self._flush_all()
        with self._lock:
            if generation != self._generation:
                return False
            for cache in what.caches:
                cache.grant(self, what.sent + self.lease)
        return True

    def _on_push(self, message: Push) -> None:
        if len(message) < 2 or message[0] != b"invalidate":
            return
        keys = message[1]
        if keys is None:
            self._flush_all()
        else:
            subscriptions = self._subscriptions  # a snapshot: the list is replaced, never changed
            for key in keys:
                for prefix, cache in subscriptions:
                    if key.startswith(prefix):
                        cache.invalidate(key)
        if self._on_invalidation is not None:
            self._on_invalidation(keys)

    def _flush_all(self) -> None:
        with self._lock:
            caches = {id(cache): cache for _, cache in self._subscriptions}
        for cache in caches.values():
            cache.flush()

    def _end_session(self) -> None:
        with self._lock:
            for _, cache in self._subscriptions:
                cache.revoke(self)
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _sleep(self, seconds: float) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_reader, selectors.EVENT_READ)
            if selector.select(seconds):
                self._wake_reader.recv(4096)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a full buffer: wake-ups are pending anyway
            self._wake_writer.send(b"\0")

    def _namespaces(self) -> str:
        """The namespaces of the caches this listener keeps (for its log lines), comma-separated."""
        with self._lock:
            prefixes = sorted({prefix for prefix, _ in self._subscriptions})
        return ",".join(prefix.removesuffix(b":").decode("utf-8", "backslashreplace") for prefix in prefixes)

    def _where(self) -> str:
        if callable(self._address):
            return "the current master"
        if isinstance(self._address, UnixSocket):
            return str(self._address)
        host, port = self._address
        return f"{'rediss' if self._tls is not None else 'redis'}://{host}:{port}"

    def _after_fork_in_child(self) -> None:
        """The thread did not survive the fork; the inherited descriptors serve the parent."""
        if self._connection is not None:
            self._connection.abandon()
        self._wake_reader.close()  # our copies only: the parent's sockets stay open
        self._wake_writer.close()
        self._connection = None
        self._thread = None
        self._lock = threading.Lock()
        self._wake_reader, self._wake_writer = socket.socketpair()


def refuses_tracking(error: BaseException | None) -> bool:
    """The server has no CLIENT TRACKING (older than 6.0, or the command renamed away)."""
    return isinstance(error, ReplyError) and "unknown" in str(error).lower()


_LIVE_LISTENERS: "weakref.WeakSet[InvalidationListener]" = weakref.WeakSet()


def _reset_listeners_in_child() -> None:
    for listener in list(_LIVE_LISTENERS):
        listener._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_listeners_in_child)
