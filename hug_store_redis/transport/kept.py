"""A connection on ``FastPath``'s stack, with what its calls check before they send."""

import select
from typing import Any

from ..clients.families import UNREACHABLE_ERRORS
from .direct_io import exchangeable

_HAS_POLL = hasattr(select, "poll")
_STALE_CHECK_ERRORS: tuple[type[Exception], ...] = (*UNREACHABLE_ERRORS, OSError)
_UNKNOWN = object()


class Kept:
    """A connection on the stack, with a poller on the socket it had when it was put back.

    Redis closes idle clients after ``timeout``, and ``CLIENT KILL``, a proxy's idle
    timeout or a restart do the same while a socket sits on the stack. redis-py's pool
    checks readability at every checkout (``ConnectionPool.get_connection``), which is
    why the generic path never sends on a dead socket, even with retries off;
    ``replace_if_stale`` is the same check. An idle, in-step socket has nothing to read,
    so anything readable (EOF, an error, stray bytes) means reconnect. Keeping the
    poller makes the check one ``poll(0)`` system call: ``Connection.can_read`` gives the
    same answer for about three times the cost.
    """

    __slots__ = ("connection", "error_reply", "exchanged", "poller", "sock")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.sock: Any = getattr(connection, "_sock", None)
        self.poller: Any = None
        #: (the socket's sendall, recv_into and fd, the parser's buffer, its reader's has_data) when
        #: FastPath.exchange may read on it: bound once, not looked up on every call
        self.exchanged: tuple[Any, ...] | None = None
        if _HAS_POLL and self.sock is not None:
            self.poller = select.poll()
            self.poller.register(self.sock, select.POLLIN)  # POLLHUP and POLLERR always count
            self.error_reply = exchangeable(connection)
            if self.error_reply is not None:  # fixed until the socket changes, and with it this _Kept
                parser = connection._parser
                sock = self.sock
                self.exchanged = (
                    sock.sendall,
                    sock.recv_into,
                    sock.fileno(),
                    parser._buffer,
                    parser._reader.has_data,
                )

    def replace_if_stale(self) -> None:
        """Disconnect if the server closed the socket; the next send reconnects under the retry policy."""
        sock = getattr(self.connection, "_sock", _UNKNOWN)
        if sock is None:  # disconnected (``pool.disconnect()``): the next send connects
            return
        if sock is self.sock and self.poller is not None:
            if not self.poller.poll(0):
                return
        else:  # a connection class of its own, or no poll() on this platform
            try:
                if not self.connection.can_read():
                    return
            except _STALE_CHECK_ERRORS:
                pass
        self.connection.disconnect()
