"""Follow Sentinel's ``+switch-master`` so a store stops writing to a demoted primary at once.

redis-py resolves the primary only when it opens a connection, so pooled connections keep
writing to the old primary after a failover. That server stays a writable primary until the
sentinels reconfigure it (their ~10 s ``INFO`` period), then resyncs from the new primary and
discards every write it took in between. Here one daemon thread per process and master
subscribes to ``+switch-master`` on one of the client's sentinels (moving to another when it
goes away). On a switch every connection to the old primary is dropped at once and the next
command resolves the new one. Between switch events a write that meets a demoted primary
(``READONLY``) is retried once.
"""

import contextlib
import logging
import os
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.retry import Retry

logger = logging.getLogger(__name__)
SWITCH_CHANNEL = "+switch-master"
Address = tuple[str, int]
T = TypeVar("T")


@dataclass(frozen=True)
class Switch:
    """One followed failover; times are ``time.monotonic()``."""

    master: str
    old: Address | None
    new: Address
    received_at: float  # the listener read the event (or found the new address on reconnecting)
    applied_at: float  # every pool on this master had dropped its connections to the old primary


def is_sentinel_managed(client: Any) -> bool:
    """Duck typing on the pool, never the client's class: what redis.sentinel's pool offers."""
    pool = getattr(client, "connection_pool", None)
    return all(hasattr(pool, name) for name in ("service_name", "sentinel_manager", "get_master_address"))


class MasterFollower:
    """Every pool of this process on one master of one set of sentinels, and the thread watching them."""

    def __init__(self, master: str, sentinels: list[Any]) -> None:
        self.master = master
        self.switches: deque[Switch] = deque(maxlen=64)
        self.generation = 0  # bumped at every switch; a write that spans one is retried
        self.listening_to: Address | None = None
        self._sentinels = list(sentinels)
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()
        self._primary: Address | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, pool: Any) -> None:
        with self._lock:
            self._pools.add(pool)
            if self._thread is None:
                self._start()

    def _still_needed(self) -> bool:
        """False, and the thread forgotten, once no pool is left; under the lock ``add`` takes."""
        with self._lock:
            if len(self._pools):
                return True
            self._thread = None
            self.listening_to = None
            return False

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"hug_store_redis sentinel follower ({self.master})", daemon=True
        )
        self._thread.start()

    def restart_after_fork(self) -> None:
        """In a forked child: the parent's thread and lock did not come along."""
        self._lock = threading.Lock()
        self._thread = None
        self.listening_to = None
        if len(self._pools):
            self._start()

    def _run(self) -> None:
        turn = 0
        while self._still_needed():
            sentinel = self._sentinels[turn % len(self._sentinels)]
            turn += 1
            try:
                self._listen(sentinel)
            except (redis.RedisError, OSError) as error:
                logger.info("sentinel %s:%s lost (%s); trying the next one", *_address_of(sentinel), error)
            except Exception:  # never let the thread die: a store without it loses writes again
                logger.exception("sentinel follower for %r failed; restarting", self.master)
            self.listening_to = None
            time.sleep(0.05 if turn % len(self._sentinels) else 0.5)

    def _listen(self, sentinel: Any) -> None:
        """Subscribe first, then read the address: a switch between the two is never missed.

        On a client of its own without retries: a sentinel that goes away is left at once
        for the next one, not retried for seconds as the client's own policy would.
        """
        shared = sentinel.connection_pool
        kwargs = {**shared.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
        pool = type(shared)(connection_class=shared.connection_class, **kwargs)
        client: Any = redis.Redis(connection_pool=pool)
        with (
            contextlib.closing(pool),
            contextlib.closing(client.pubsub(ignore_subscribe_messages=True)) as pubsub,
        ):
            pubsub.subscribe(SWITCH_CHANNEL)
            host, port = client.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", self.master)
            current = (_text(host), int(port))
            reporter = _address_of(sentinel)
            if self._primary is not None and current != self._primary:
                self._switch(self._primary, current, reporter, time.monotonic())
            self._primary = current
            self.listening_to = reporter
            quiet_since = time.monotonic()
            while len(self._pools):
                message = pubsub.get_message(timeout=0.5)
                now = time.monotonic()
                if message is None:
                    if now - quiet_since > 1.0:  # a sentinel that stopped answering is a lost one
                        pubsub.ping()
                        if now - quiet_since > 3.0:
                            raise RedisConnectionError("the sentinel stopped answering")
                    continue
                quiet_since = now
                if message.get("type") != "message":
                    continue
                fields = _text(message["data"]).split()
                if len(fields) == 5 and fields[0] == self.master:
                    new = (fields[3], int(fields[4]))
                    self._switch((fields[1], int(fields[2])), new, reporter, now)
                    self._primary = new

    def _switch(self, old: Address | None, new: Address, reporter: Address, received_at: float) -> None:
        self.generation += 1  # first: a write cut off by the sweep below must see it and retry
        for pool in list(self._pools):
            drop_old_primary(pool, new, reporter)
        self.switches.append(Switch(self.master, old, new, received_at, time.monotonic()))


def drop_old_primary(pool: Any, new: Address, reporter: Address) -> None:
    """Make ``pool`` resolve ``new`` for its next connection and stop using every other one.

    The sentinel that announced the switch goes first in the client's sentinel list (redis-py
    asks them in order, and itself moves the one that answered to the front), so the next
    resolution cannot be answered by a sentinel that has not heard of the switch yet.
    Recording ``new`` as the pool's master address makes it discard, on release, every
    connection still out to the old primary. Idle connections are closed now; those in use
    are pointed at the new primary and have their socket shut down (not closed, which would
    race with the thread using it): that thread gets a ``ConnectionError``, and redis-py's
    retry (or ours) sends the command again, to the new primary.
    """
    sentinels = getattr(pool.sentinel_manager, "sentinels", None)
    if isinstance(sentinels, list):
        first = [client for client in sentinels if _address_of(client) == reporter]
        if first and sentinels[0] is not first[0]:
            sentinels[:] = first + [client for client in sentinels if client is not first[0]]
    proxy = getattr(pool, "proxy", None)
    if proxy is not None and hasattr(proxy, "master_address"):
        proxy.master_address = new
    pool.disconnect(inuse_connections=False)
    for connection in _in_use(pool):
        if (getattr(connection, "host", None), getattr(connection, "port", None)) != new:
            # redis-py reconnects a connection that failed mid-command to the address it holds,
            # without asking the sentinels again: point it at the new primary first, as
            # SentinelManagedConnection.connect_to does.
            connection.host, connection.port = new
            sock = getattr(connection, "_sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _in_use(pool: Any) -> list[Any]:
    lock = getattr(pool, "_lock", None)
    connections = getattr(pool, "_in_use_connections", ())
    if lock is None:
        return list(connections)
    with lock:
        return list(connections)


class Following:
    """What a store holds for a Sentinel-managed client: its pool and the follower of its master."""

    def __init__(self, pool: Any, follower: MasterFollower) -> None:
        self.pool = pool
        self.follower = follower

    def call(self, operation: Callable[[], T]) -> T:
        """``operation``, retried once if a switch interrupted it or it met a demoted primary."""
        generation = self.follower.generation
        try:
            return operation()
        except (RedisConnectionError, ReadOnlyError) as error:
            if _met_demoted_primary(error):
                self.pool.disconnect(inuse_connections=False)  # the idle ones are on it too
            elif self.follower.generation == generation:
                raise
        return operation()


def call(following: "Following | None", operation: Callable[..., T], *args: Any) -> T:
    """The store's one entry point: ``operation(*args)`` as it is, or followed through failovers."""
    if following is None:
        return operation(*args)
    return following.call(lambda: operation(*args))


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
    key = (str(pool.service_name), tuple(sorted(_address_of(sentinel) for sentinel in sentinels)))
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


def _address_of(client: Any) -> Address:
    kwargs = client.connection_pool.connection_kwargs
    return (str(kwargs.get("host")), int(kwargs.get("port", 0)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
