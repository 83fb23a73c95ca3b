"""One RESP3 connection in ``CLIENT TRACKING ... BCAST`` mode: commands out, messages in, in order.

The invalidation listener drives it from its thread and owns every policy (leases, caches,
heartbeats); this class only talks to the server. Each command carries a tag that comes back
with its reply, so the listener knows what a reply answers and when it was asked.
"""

import select
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from ..topology.addresses import Address
from .listener_endpoints import TLSSettings, UnixSocket, open_socket
from .resp3 import ProtocolError, Push, ReplyError, Resp3Reader, encode_command

Tag = TypeVar("Tag")
READ_SIZE = 65536
"""Bytes asked of the socket per read (TLS: also what is left decrypted in the SSL buffer)."""


class ListenerError(Exception):
    """The tracking connection can no longer vouch for the caches (the reason says why)."""


class TrackingConnection(Generic[Tag]):
    """Connected on creation; ``receive`` also returns when ``wake`` becomes readable."""

    def __init__(
        self,
        address: Address | UnixSocket,
        wake: socket.socket,
        timeout: float,
        tls: TLSSettings | None = None,
    ) -> None:
        self._sock = open_socket(address, tls, timeout)
        self._wake = wake
        self._wake_fd = wake.fileno()
        # poll(), not select(): a server process easily has descriptors above 1023; not the
        # selectors module either, whose Python layers cost more than the push they deliver
        self._poll = select.poll()
        self._poll.register(self._sock, select.POLLIN)
        self._poll.register(wake, select.POLLIN)
        self._tls = isinstance(self._sock, ssl.SSLSocket)
        self._reader = Resp3Reader()
        self.pending: deque[Tag] = deque()
        """Tags of the commands sent and not answered yet, oldest first."""
        self.tracked: list[bytes] = []

    def hello(self, tag: Tag, client_name: str, username: str | None, password: str | None) -> None:
        """Switch to RESP3 (invalidations as push messages), authenticate, name the client."""
        command: list[bytes | str] = ["HELLO", "3"]
        if password is not None:
            command += ["AUTH", username or "default", password]
        self.send(tag, *command, "SETNAME", client_name)

    def track(self, tag: Tag, prefixes: Iterable[bytes]) -> None:
        """Add the prefixes not covered yet (nothing is sent when all are)."""
        new = minimal([prefix for prefix in prefixes if not self.covers(prefix)])
        if not new:
            return
        if any(old.startswith(prefix) for old in self.tracked for prefix in new):
            # Redis refuses overlapping prefixes on one connection; the set is registered afresh.
            raise ListenerError("a new prefix covers a tracked one; reconnecting to track both")
        command: list[bytes | str] = ["CLIENT", "TRACKING", "ON", "BCAST"]
        for prefix in new:
            command += ["PREFIX", prefix]
        self.send(tag, *command)
        self.tracked.extend(new)

    def covers(self, prefix: bytes) -> bool:
        return any(prefix.startswith(tracked) for tracked in self.tracked)

    def send(self, tag: Tag, *command: bytes | str) -> None:
        self._sock.sendall(encode_command(*command))
        self.pending.append(tag)

    def receive(self, timeout: float) -> list[tuple[Tag | None, Any]]:
        """Messages that arrived within ``timeout`` s: (tag, reply) or (None, push message)."""
        data = None
        for fd, _ in self._poll.poll(max(timeout, 0.0) * 1000):  # an error or hang-up: recv says which
            if fd == self._wake_fd:
                self._wake.recv(4096)
            else:
                data = self._sock.recv(READ_SIZE)
                if not data:
                    raise ListenerError("connection closed by the server")
        if data is None:
            return []
        self._reader.feed(data)
        if self._tls:
            self._drain_decrypted()
        messages: list[tuple[Tag | None, Any]] = []
        for message in self._reader.messages():
            if isinstance(message, Push):
                messages.append((None, message))
            elif not self.pending:
                raise ProtocolError(f"a reply nothing asked for: {message!r}")
            elif isinstance(message, ReplyError):
                raise message
            else:
                messages.append((self.pending.popleft(), message))
        return messages

    def _drain_decrypted(self) -> None:
        """Read what TLS already decrypted: those bytes left the kernel, so ``select`` never reports them."""
        sock = self._sock
        while isinstance(sock, ssl.SSLSocket) and sock.pending():
            data = sock.recv(sock.pending())
            if not data:
                raise ListenerError("connection closed by the server")
            self._reader.feed(data)

    def close(self) -> None:
        self._sock.close()

    def abandon(self) -> None:
        """In a forked child: close our copies of the descriptors, never the parent's connection."""
        self.close()  # close() on a descriptor the parent still holds sends nothing to the server


def run_id_of(info: Any) -> str:
    """The ``run_id`` field of an ``INFO server`` reply."""
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("run_id:"):
            return line[7:].strip()
    raise ProtocolError("INFO server has no run_id")


def swapdb_calls_of(info: Any) -> int:
    """SWAPDB's call count in an ``INFO commandstats`` reply (0 before the first).

    Redis pushes no invalidation for SWAPDB, so a change in this count is how the listener
    learns that every database's keys may have changed under its caches.
    """
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("cmdstat_swapdb:calls="):
            return int(line[21:].split(",", 1)[0])
    return 0


def minimal(prefixes: list[bytes]) -> list[bytes]:
    """Drop prefixes another one covers; Redis refuses overlapping ones on one connection."""
    kept: list[bytes] = []
    for prefix in sorted(set(prefixes), key=len):
        if not any(prefix.startswith(shorter) for shorter in kept):
            kept.append(prefix)
    return kept
