"""The thread behind ``sentinel_follow``: every sentinel of one master, heard at once.

Only the sentinel leading a failover announces its steps, and any sentinel may lead, so the
listener subscribes on every sentinel of the client (one thread, one connection each, a
``select`` over them). Two announcements matter:

- ``+failover-state-wait-promotion``: the leader has just told a replica to become the
  primary. From that moment the old primary's writes are lost, but ``+switch-master`` comes
  only once the leader has seen the promotion in the replica's ``INFO`` (polled every second).
  Store writes are held for that second instead (at most ``HOLD_LIMIT_S``, or until the
  failover is aborted), so none is acknowledged by a primary that is already out.
- ``+switch-master``: every pool drops its connections to the old primary, and held writes go on.

A sentinel that disappears is dropped and tried again every half second. On (re)connecting,
its ``config-epoch`` tells whether it knows of a switch the listener missed; an older epoch
never moves the store back.
"""

import contextlib
import logging
import select
import socket
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..codec.wire import as_text
from .addresses import Address, address_of
from .client_internals import in_use_connections, socket_of

logger = logging.getLogger("hug_store_redis.sentinel_follow")
SWITCH = "+switch-master"
PROMOTING = "+failover-state-wait-promotion"
ABORTED = "-failover-abort-*"
HOLD_LIMIT_S = 3.0  # a promotion not confirmed by then lets writes go to the old primary again


@dataclass(frozen=True)
class Switch:
    """One followed failover; times are ``time.monotonic()``."""

    master: str
    old: Address | None
    new: Address
    received_at: float  # the listener read the event (or found the new address on reconnecting)
    applied_at: float  # every pool on this master had dropped its connections to the old primary
    held_from: float | None  # writes were held from then (the promotion was announced), if heard


class _Link:
    """One sentinel: a client without retries (a lost sentinel is left at once) and its subscription."""

    def __init__(self, sentinel: Any) -> None:
        shared = sentinel.connection_pool
        kwargs = {**shared.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
        self.pool = type(shared)(connection_class=shared.connection_class, **kwargs)
        client: Any = redis.Redis(connection_pool=self.pool)
        self.client = client
        self.address = address_of(sentinel)
        self.pubsub: Any = client.pubsub(ignore_subscribe_messages=True)
        self.heard_at = time.monotonic()

    def open(self, master: str) -> tuple[Address, int]:
        """Subscribe first, then read the address and epoch: a switch in between is never missed."""
        self.pubsub.subscribe(SWITCH, PROMOTING)
        self.pubsub.psubscribe(ABORTED)
        return self.state(master)

    def state(self, master: str) -> tuple[Address, int]:
        state = self.client.sentinel_master(master)
        return (str(state["ip"]), int(state["port"])), int(state["config-epoch"])

    def socket(self) -> Any:
        connection = self.pubsub.connection
        return socket_of(connection) if connection is not None else None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.pubsub.close()
        with contextlib.suppress(Exception):
            self.pool.disconnect()


class MasterFollower:
    """Every pool of this process on one master of one set of sentinels, and the thread watching them."""

    def __init__(self, master: str, sentinels: list[Any]) -> None:
        self.master = master
        self.switches: deque[Switch] = deque(maxlen=64)
        self.holds: deque[tuple[float, float]] = deque(maxlen=64)  # (held from, released at)
        self.generation = 0  # bumped at every switch; a write that spans one is retried
        #: Bumped at the end of every switch, once the old primary's connections are swept: a
        #: question asked after it moved is answered by the new primary (``native.Detected``).
        self.switched = 0
        self.listening: frozenset[Address] = frozenset()
        self.writes_flow = threading.Event()  # cleared while a promotion awaits confirmation
        self.writes_flow.set()
        self._sentinels = list(sentinels)
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()
        self._primary: Address | None = None
        self._epoch = -1
        self._held_from: float | None = None
        self._held_by: Address | None = None  # the leader that announced the promotion
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, pool: Any) -> None:
        with self._lock:
            self._pools.add(pool)
            if self._thread is None:
                self._start()

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"hug_store_redis sentinel follower ({self.master})", daemon=True
        )
        self._thread.start()

    def restart_after_fork(self) -> None:
        """In a forked child: the parent's thread, lock and sockets did not come along."""
        self._lock = threading.Lock()
        self.writes_flow = threading.Event()
        self.writes_flow.set()
        self._held_from = None
        self._thread = None
        self.listening = frozenset()
        if len(self._pools):
            self._start()

    def _still_needed(self) -> bool:
        """False, and the thread forgotten, once no pool is left; under the lock ``add`` takes."""
        with self._lock:
            if len(self._pools):
                return True
            self._thread = None
            return False

    def _run(self) -> None:
        links: dict[Address, _Link] = {}
        retry_at: dict[Address, float] = {}
        try:
            while self._still_needed():
                try:
                    self._connect_missing(links, retry_at)
                    self._serve(links, retry_at)
                except Exception:  # never let the thread die: without it writes are lost again
                    logger.exception("sentinel follower for %r failed; going on", self.master)
                    time.sleep(0.5)
                if self._held_from is not None and time.monotonic() > self._held_from + HOLD_LIMIT_S:
                    self._release()
        finally:
            for link in links.values():
                link.close()
            self.listening = frozenset()
            self._release()

    def _connect_missing(self, links: dict[Address, _Link], retry_at: dict[Address, float]) -> None:
        for sentinel in self._sentinels:
            address = address_of(sentinel)
            if address in links or retry_at.get(address, 0.0) > time.monotonic():
                continue
            link = _Link(sentinel)
            try:
                primary, epoch = link.open(self.master)
            except (redis.RedisError, OSError) as error:
                link.close()
                retry_at[address] = time.monotonic() + 0.5
                logger.debug("sentinel %s:%s unreachable: %s", *address, error)
                continue
            links[address] = link
            self._learn(primary, epoch, address, time.monotonic())
        self.listening = frozenset(links)

    def _learn(self, primary: Address, epoch: int, reporter: Address, now: float) -> None:
        """What a sentinel says on connecting; a newer epoch with another address is a missed switch."""
        if self._primary is None:
            self._primary = primary
        elif primary != self._primary and epoch > self._epoch:
            self._switch(self._primary, primary, reporter, now)
        if primary == self._primary:
            self._epoch = max(self._epoch, epoch)

    def _serve(self, links: dict[Address, _Link], retry_at: dict[Address, float]) -> None:
        """Read what every link has, then wait up to half a second for more."""
        for address, link in list(links.items()):
            try:
                while (message := link.pubsub.get_message(timeout=0)) is not None:
                    link.heard_at = time.monotonic()
                    self._handle(message, link)
                quiet = time.monotonic() - link.heard_at
                if quiet > 3.0:
                    raise redis.ConnectionError("the sentinel stopped answering")
                if quiet > 1.0:
                    link.pubsub.ping()
            except (redis.RedisError, OSError) as error:
                logger.info("sentinel %s:%s lost (%s)", *address, error)
                link.close()
                del links[address]
                retry_at[address] = time.monotonic() + 0.2
        self.listening = frozenset(links)
        sockets = [link.socket() for link in links.values()]
        if not sockets or any(sock is None for sock in sockets):
            time.sleep(0.05)
            return
        timeout = 0.5
        if self._held_from is not None:  # wake up in time to end the hold
            timeout = max(0.0, min(timeout, self._held_from + HOLD_LIMIT_S - time.monotonic()))
        try:
            select.select(sockets, [], [], timeout)
        except (OSError, ValueError):  # a socket closed under us, or past select's fd limit
            time.sleep(0.05)

    def _handle(self, message: dict[str, Any], link: _Link) -> None:
        if message.get("type") not in ("message", "pmessage"):
            return  # a pong
        now = time.monotonic()
        channel = as_text(message["channel"])
        fields = as_text(message["data"]).split()
        if channel == SWITCH and len(fields) == 5 and fields[0] == self.master:
            new = (fields[3], int(fields[4]))
            if new == self._primary:
                return  # the same switch, told by another sentinel
            try:
                told, epoch = link.state(self.master)
            except (redis.RedisError, OSError):
                told, epoch = new, self._epoch
            if told != new or epoch < self._epoch:
                return  # stale: this sentinel has moved on since
            self._switch(self._primary, new, link.address, now)
            self._epoch = epoch
        elif channel == PROMOTING and len(fields) >= 6 and fields[4:6] == ["@", self.master]:
            self.writes_flow.clear()
            self._held_from = time.monotonic()  # after: a write that starts later is surely held
            self._held_by = link.address
        elif (
            channel.startswith("-failover-abort")
            and fields[1:2] == [self.master]
            and link.address == self._held_by  # not a sentinel that lost the election to it
        ):
            self._release()

    def _switch(self, old: Address | None, new: Address, reporter: Address, received_at: float) -> None:
        self.generation += 1  # first: a write cut off by the sweep below must see it and retry
        for pool in list(self._pools):
            drop_old_primary(pool, new, reporter)
        self._primary = new
        self.switched += 1  # last: asked before this, the old primary could still answer
        self.switches.append(
            Switch(self.master, old, new, received_at, time.monotonic(), held_from=self._held_from)
        )
        self._release()

    def _release(self) -> None:
        if self._held_from is not None:
            self.holds.append((self._held_from, time.monotonic()))
        self._held_from = None
        self.writes_flow.set()


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
        first = [client for client in sentinels if address_of(client) == reporter]
        if first and sentinels[0] is not first[0]:
            sentinels[:] = first + [client for client in sentinels if client is not first[0]]
    proxy = getattr(pool, "proxy", None)
    if proxy is not None and hasattr(proxy, "master_address"):
        proxy.master_address = new
    pool.disconnect(inuse_connections=False)
    for connection in in_use_connections(pool):
        if (getattr(connection, "host", None), getattr(connection, "port", None)) != new:
            # redis-py reconnects a connection that failed mid-command to the address it holds,
            # without asking the sentinels again: point it at the new primary first, as
            # SentinelManagedConnection.connect_to does.
            connection.host, connection.port = new
            sock = socket_of(connection)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
