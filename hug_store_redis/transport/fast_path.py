"""Pre-framed commands on a plain ``redis.Redis``, without redis-py's per-call machinery.

A generic ``client.get`` checks a connection out of the pool (a lock, metrics and a
``select`` on the socket), packs the command in Python, runs response callbacks and
checks the connection back in. This path keeps redis-py's ``Connection`` (socket, TLS,
AUTH/ACL handshake, hiredis parser, timeouts, health checks, the client's retry policy)
and replaces the rest with a stack of connections of its own, made as the client's pool
makes them. Borrowed and kept, they would be lost to the pool: with a bounded
``max_connections`` the client's own commands (the user index, admin SCANs) would find
it empty; a checkout and check-in per call costs more than the path saves.

valkey-py is a fork of redis-py with the same ``Connection`` and pool machinery in classes
of its own, so a plain ``valkey.Valkey`` is served too, by the same rules against its own
classes; its pools want a command name at checkout.
"""

import functools
import os
import threading
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

import redis
from redis.connection import BlockingConnectionPool, ConnectionPool

from .base import Resends
from .direct_io import handed_off
from .direct_io import pipelined_round_trip as _pipelined_round_trip
from .direct_io import round_trip as _round_trip
from .kept import Kept as _Kept

# Methods a fast path must not bypass, as the client family defines them. When a client's
# class overrides or wraps one (a subclass, a pipeline, tracing instrumentation patched in
# before or after this import), the generic path runs instead.
_EXACT_METHODS = ("execute_command", "parse_response", "get", "set", "getex", "exists", "delete")


def _methods_of(client_class: type) -> dict[str, Any]:
    return {name: getattr(client_class, name) for name in _EXACT_METHODS}


# The plain pools served, each with its family's methods and its checkout arguments.
_PLAIN_POOLS: dict[type, tuple[dict[str, Any], tuple[str, ...]]] = {
    ConnectionPool: (_methods_of(redis.Redis), ()),
    BlockingConnectionPool: (_methods_of(redis.Redis), ()),
}
_STACKING_POOLS: tuple[type, ...] = (ConnectionPool,)  # the others promise waiters a connection
try:
    import valkey
except ModuleNotFoundError:  # valkey-py is optional
    pass
else:
    _PLAIN_POOLS[valkey.ConnectionPool] = (_methods_of(valkey.Valkey), ("_",))
    _PLAIN_POOLS[valkey.BlockingConnectionPool] = (_methods_of(valkey.Valkey), ("_",))
    _STACKING_POOLS += (valkey.ConnectionPool,)

# The RESP versions served. The path returns the parser's value with no response
# callback, so it serves a version only if every reply to the commands it sends (GET,
# GETEX, SET, EXISTS, DEL, EXPIRE, TTL, UNLINK, HSET, HDEL, EVALSHA/EVAL of scripts.py)
# parses to what the client's own method returns (or the transport makes of it: EXPIRE's
# integer as a bool): bulk strings, nulls, integers, simple strings, errors and arrays of
# them parse alike in RESP2 and RESP3, with hiredis
# and with redis-py's Python parsers, and both parsers consume RESP3 push frames before
# the reply. Unset means redis-py's default: RESP2 before redis-py 8, RESP3 from 8 on.
# tests/transport/test_protocols.py holds each version and parser to this. A command added
# here must keep it true (scripts: reply integers, strings, nil or arrays of them, never
# Lua booleans).
_SERVED_PROTOCOLS = (None, 2, 3, "2", "3")

# One FastPath per pool, shared by every store on it: the connections it keeps number at
# most the pool's peak concurrency, however many stores there are.
_SHARED: "weakref.WeakKeyDictionary[ConnectionPool, FastPath]" = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def fast_path_for(client: Any) -> "FastPath | None":
    """The FastPath for ``client``'s pool when it is a plain redis.Redis (or valkey.Valkey) served
    exactly; else None.

    RESP2 and RESP3 both qualify (see ``_SERVED_PROTOCOLS``). Anything else
    (RedisCluster, Sentinel-managed or client-side-caching pools, single-connection
    clients, look-alikes) keeps the generic path.
    """
    pool: Any = getattr(client, "connection_pool", None)
    family = _PLAIN_POOLS.get(type(pool))
    if family is None or getattr(client, "connection", True) is not None:
        return None
    plain_methods, checkout_arguments = family
    # Client-side caching answers from memory (redis-py: the pool's cache; valkey-py: its
    # connections' client_cache).
    if getattr(pool, "cache", None) is not None:
        return None
    if pool.connection_kwargs.get("cache_enabled") or pool.connection_kwargs.get("client_cache"):
        return None
    if pool.connection_kwargs.get("protocol") not in _SERVED_PROTOCOLS:
        return None
    client_class = type(client)
    if any(getattr(client_class, name, None) is not method for name, method in plain_methods.items()):
        return None
    if hasattr(client_class.execute_command, "__wrapped__"):  # instrumented before we were imported
        return None
    with _SHARED_LOCK:
        fast = _SHARED.get(pool)
        if fast is None:
            fast = _SHARED[pool] = FastPath(pool, checkout_arguments)
    return fast


class FastPath:
    """Runs framed commands on connections made like one pool's and returns the raw replies.

    Beside a ``ConnectionPool`` this path opens connections of its own, with the pool's
    class and settings (``connection_class(**connection_kwargs)``, as the pool's
    ``make_connection`` does), and keeps them on a list used as a stack: ``pop`` and
    ``append`` are atomic, so threads never share a connection and no lock is taken on
    the way. They number at most the peak concurrency, and never more than the pool's
    ``max_connections``; a call beyond that checks one out of the pool and back in,
    which raises the pool's own error when the pool is full too. None is taken from the
    pool and kept, so the client's own commands always have the pool's.
    A ``BlockingConnectionPool`` promises waiters a connection, so there each call checks
    one out and back in. A connection taken from the stack gets the readability check
    the pool makes at checkout, so a socket the server closed while idle is replaced, not
    written to. After a failure it is disconnected (a reply may still be in flight) and
    goes back on the stack: the next send reconnects. After ``os.fork()`` the child
    drops the parent's sockets (``_forget_parent_connections``), as redis-py's pool does.
    The pool is held weakly, so a pool nobody uses any more goes away with its FastPath.
    """

    __slots__ = (
        "__weakref__",
        "_checkout_arguments",
        "_idle",
        "_keeps_connections",
        "_lock",
        "_opened",
        "_pool",
    )

    def __init__(self, pool: ConnectionPool, checkout_arguments: tuple[str, ...] = ()) -> None:
        self._pool = weakref.ref(pool)
        self._idle: list[_Kept] = []
        self._keeps_connections = type(pool) in _STACKING_POOLS
        self._checkout_arguments = checkout_arguments
        self._lock = threading.Lock()  # only to open a connection: the count stays within the bound
        self._opened = 0

    def execute(
        self, frame: Any, resends: Resends | None = None, round_trip: Callable[[Any, Any], Any] | None = None
    ) -> Any:
        """One framed command's reply; ``resends`` notes a retry of it (the first reply was lost).

        ``round_trip`` is ``execute_pipelined``'s, for a tuple of frames. The single command is
        this method itself, not a wrapper around it: one call less on every store read.
        """
        if round_trip is None:
            round_trip = _round_trip
        frames = frame
        kept: _Kept | None = None
        if self._keeps_connections:
            try:
                kept = self._idle.pop()
            except IndexError:  # opened below, outside this block: its errors chain to nothing
                kept = None
            if kept is None:
                kept = self._open()
        if kept is None:
            return self._run_checked_out(round_trip, frames, resends)
        connection = kept.connection
        try:
            poller = kept.poller  # replace_if_stale's common case, inline: one poll(0) on the same socket
            if poller is None or getattr(connection, "_sock", None) is not kept.sock or poller.poll(0):
                kept.replace_if_stale()
            try:
                reply = round_trip(connection, frames)
                failure = None
            except BaseException as error:
                failure = error
            if failure is not None:  # outside the except: the retries' errors chain as the policy's own
                reply = _retried(failure, round_trip, connection, frames, resends)
        except BaseException:
            connection.disconnect()  # a reply may still be in flight: the next send reconnects
            self._idle.append(kept)
            raise
        if kept.sock is not getattr(connection, "_sock", None):  # reconnected: poll the new socket
            kept = _Kept(connection)
        self._idle.append(kept)
        return reply

    def exchanger(
        self, twin: ModuleType | None, round_trip: Callable[[Any, Any], Any] | None
    ) -> Callable[[bytes, Resends | None], Any]:
        """``execute`` for one frame (``frame``, ``resends``), through ``twin.exchange_idle`` (the
        compiled twin's, in C: the stale check, the send, one read and the parse) on a kept
        connection it may read on. Built once per transport: what each call would look up is
        in the closure.

        Any other turn is ``execute``'s: no twin, no kept connection, one that is not
        ``exchangeable``, or whose reader or socket holds bytes (``NOT_STARTED``, nothing sent).
        """
        execute = self.execute
        if twin is None or not self._keeps_connections:  # the pure twin: execute itself, no wrapper
            return execute if round_trip is None else functools.partial(execute, round_trip=round_trip)
        pop, append = self._idle.pop, self._idle.append  # the list is cleared, never replaced
        exchange_idle, handoff, not_started = twin.exchange_idle, twin.Handoff, twin.NOT_STARTED
        handed_off = self._handed_off

        def exchange(frame: bytes, resends: Resends | None = None) -> Any:
            try:
                kept = pop()
            except IndexError:
                return execute(frame, resends, round_trip)
            exchanged = kept.exchanged
            if exchanged is None or kept.connection._sock is not kept.sock:
                append(kept)
                return execute(frame, resends, round_trip)
            try:
                reply = exchange_idle(exchanged, frame)
            except BaseException:  # not from the socket (a MemoryError, a signal's exception):
                kept.connection.disconnect()  # a reply may be left unread; the stack keeps its count
                append(kept)
                raise
            if type(reply) is handoff:
                return handed_off(kept, reply, frame, resends, round_trip)
            append(kept)
            if reply is not_started:
                return execute(frame, resends, round_trip)
            return reply

        return exchange

    def _handed_off(
        self,
        kept: "_Kept",
        handoff: Any,
        frame: bytes,
        resends: Resends | None,
        round_trip: Callable[[Any, Any], Any] | None,
    ) -> Any:
        """What the exchange left, finished by the parser (``direct_io.handed_off``); a failure
        goes to the retry policy and disconnects, as in ``execute``."""
        connection = kept.connection
        try:
            try:
                reply = handed_off(connection, handoff, kept.error_reply)  # type: ignore[arg-type]  # set with exchanged
                failure = None
            except BaseException as error:
                failure = error
            if failure is not None:  # outside the except, as in execute
                reply = _retried(failure, round_trip or _round_trip, connection, frame, resends)
        except BaseException:
            connection.disconnect()
            self._idle.append(kept)
            raise
        if kept.sock is not getattr(connection, "_sock", None):
            kept = _Kept(connection)
        self._idle.append(kept)
        return reply

    def execute_pipelined(self, frames: tuple[bytes, ...], resends: Resends | None = None) -> list[Any]:
        """Several framed commands in one round trip; the replies in order.

        An error reply raises after the connection is dropped, so no later reply can be
        read by the next caller.
        """
        replies: list[Any] = self.execute(frames, resends, _pipelined_round_trip)
        return replies

    def disconnect(self) -> None:
        """Close the idle connections this path keeps; the next call reconnects.

        They are not the pool's, so ``client.close()`` cannot reach them; ``RedisStore.close()``
        calls this. Each is taken off the stack before it is closed, so no other thread is
        sending on it; a call in flight keeps its connection until it returns.
        """
        taken: list[_Kept] = []
        while True:
            try:
                taken.append(self._idle.pop())
            except IndexError:
                break
        for kept in taken:
            kept.connection.disconnect()
        self._idle.extend(taken)  # as after a failure: the next send reconnects

    def _open(self) -> "_Kept | None":
        """A connection of this path's own, or None when it holds ``max_connections`` already."""
        pool = self._live_pool()
        with self._lock:
            if self._opened >= pool.max_connections:
                return None
            self._opened += 1
        return _Kept(pool.connection_class(**pool.connection_kwargs))

    def _run_checked_out(
        self, round_trip: Callable[[Any, Any], Any], frames: Any, resends: Resends | None
    ) -> Any:
        """One call on a connection checked out of the pool (it checks it) and back in."""
        pool = self._live_pool()
        connection: Any = pool.get_connection(*self._checkout_arguments)
        try:
            try:
                return round_trip(connection, frames)
            except BaseException as error:
                failure = error
            return _retried(failure, round_trip, connection, frames, resends)  # outside the except, as above
        except BaseException:
            connection.disconnect()  # a reply may still be in flight: the pool reconnects it
            raise
        finally:
            pool.release(connection)

    def _live_pool(self) -> ConnectionPool:
        pool = self._pool()
        if pool is None:  # only reachable if a store outlives its client's pool
            raise redis.ConnectionError("the client's connection pool no longer exists")
        return pool


def _forget_parent_connections() -> None:
    """In a forked child: the stacks hold the parent's sockets, which the child must not use.

    An at-fork hook rather than a pid check per call; the pools themselves reset on
    their own pid check when the child next asks them for a connection.
    """
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()  # another thread may have held it at the fork
    for fast in list(_SHARED.values()):
        fast._idle.clear()
        fast._opened = 0
        fast._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork
    os.register_at_fork(after_in_child=_forget_parent_connections)


def _retried(
    error: BaseException,
    round_trip: Callable[[Any, Any], Any],
    connection: Any,
    frames: Any,
    resends: Resends | None,
) -> Any:
    """The connection's retry policy, taking over after a first attempt that raised ``error``.

    The first attempt runs outside ``Retry.call_with_retry`` (its backoff reset and closures
    cost more than the send); this replays that failure as the retry's own first attempt,
    so what is retried, how often, after which backoff, and what is raised stay the policy's.
    ``resends`` counts every send after the first, as before.
    """
    send: Callable[[], Any] = functools.partial(round_trip, connection, frames)
    attempts = 0

    def attempt() -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise error
        if resends is not None:
            resends.happened = True
        return send()

    return connection.retry.call_with_retry(attempt, connection.disconnect)
