"""The specification of the compiled twin's reply section: one frame sent, one simple reply read.

A reply from Redis that is one bulk string, integer, simple string, null, or a flat array
of those, and arrives whole in one ``recv_into``, is parsed here exactly as hiredis (with
no decoding) parses it. Anything else (an error reply, a push frame, RESP3's other types, a
nested array, a partial reply, bytes beyond the reply, a number not in hiredis's canonical
form, a failure of the socket) is handed back (``Handoff``) for the connection's own parser
to finish, so its exceptions, push handling and disconnects stay the client's. The fast
path uses the compiled ``exchange`` only; ``_codec_py`` re-exports these so that both twins
have the same names and the differential tests have the reference.
"""

import re
import select
from collections.abc import Callable
from typing import Any

# Longest integer taken here: 18 digits always fit a 64-bit integer; longer ones go to hiredis.
_NUMBER = re.compile(rb"(?:0|-?[1-9][0-9]{0,17})\Z")
NOT_SIMPLE: Any = object()
"""``parse_reply``'s answer for bytes that are not exactly one simple reply."""


class Handoff:
    """What ``exchange`` did not finish: the caller hands it to the connection's own parser.

    ``sent`` is False when ``sendall`` raised ``error``; otherwise ``error`` is what
    ``recv_into`` raised (None when it returned) and ``received`` the bytes it left in the
    buffer, which are not a whole simple reply.
    """

    __slots__ = ("error", "received", "sent")

    def __init__(self, error: BaseException | None, sent: bool, received: int) -> None:
        self.error = error
        self.sent = sent
        self.received = received


def _line_end(data: bytes, at: int, size: int) -> int:
    if at >= size:
        return -1
    end = data.find(b"\r", at, size)
    if end < 0 or end + 1 >= size or data[end + 1] != 10:
        return -1
    return end


def _number(text: bytes) -> int | None:
    return int(text) if _NUMBER.match(text) else None


def _item(data: bytes, at: int, size: int, nested: bool) -> tuple[Any, int]:
    """``(value, the index after it)``; ``(NOT_SIMPLE, at)`` when it is not a simple reply."""
    end = _line_end(data, at + 1, size)
    if end < 0:
        return NOT_SIMPLE, at
    kind, line = data[at : at + 1], data[at + 1 : end]
    if kind == b"$":
        if line == b"-1":
            return None, end + 2
        length = _number(line)
        if length is None or length < 0:
            return NOT_SIMPLE, at
        stop = end + 2 + length
        if stop + 2 > size or data[stop : stop + 2] != b"\r\n":
            return NOT_SIMPLE, at
        return data[end + 2 : stop], stop + 2
    if kind == b":":
        number = _number(line)
        return (NOT_SIMPLE, at) if number is None else (number, end + 2)
    if kind == b"+":
        return line, end + 2
    if kind == b"_":
        return (None, end + 2) if not line else (NOT_SIMPLE, at)
    if kind == b"*" and not nested:
        if line == b"-1":
            return None, end + 2
        count = _number(line)
        if count is None or count < 0 or count > size:
            return NOT_SIMPLE, at
        items, at = [], end + 2
        for _ in range(count):
            item, at = _item(data, at, size, True)
            if item is NOT_SIMPLE:
                return NOT_SIMPLE, at
            items.append(item)
        return items, at
    return NOT_SIMPLE, at  # errors, push frames, RESP3's other types, nested arrays: hiredis's


def parse_reply(buffer: Any, size: int) -> Any:
    """The reply in ``buffer[:size]`` as hiredis (without decoding) parses it, when it is
    exactly one simple reply; else ``NOT_SIMPLE``."""
    data = bytes(buffer)
    if size <= 0 or size > len(data):
        return NOT_SIMPLE
    value, at = _item(data, 0, size, False)
    return value if at == size and value is not NOT_SIMPLE else NOT_SIMPLE


def exchange(sock: Any, frame: bytes, buffer: bytearray) -> Any:
    """``frame`` sent with ``sock.sendall``, one ``recv_into(buffer)``, its simple reply parsed;
    a ``Handoff`` for anything else (a failure, an error reply, a push frame, a partial reply,
    bytes beyond the reply)."""
    return _exchange(sock.sendall, sock.recv_into, frame, buffer)


def _exchange(
    sendall: Callable[[bytes], Any], recv_into: Callable[[bytearray], int], frame: bytes, buffer: bytearray
) -> Any:
    try:
        sendall(frame)
    except BaseException as error:
        return Handoff(error, False, 0)
    try:
        received = recv_into(buffer)
    except BaseException as error:
        return Handoff(error, True, 0)
    if received <= 0:
        return Handoff(None, True, 0)
    value = parse_reply(buffer, received)
    return Handoff(None, True, received) if value is NOT_SIMPLE else value


NOT_STARTED: Any = object()
"""``exchange_idle``'s answer when it sent nothing."""


def exchange_idle(connection: tuple[Any, ...], frame: bytes) -> Any:
    """``exchange`` on an idle kept ``connection``, ``(its socket's sendall, recv_into and file
    descriptor, the parser's buffer, its reader's has_data)``: ``NOT_STARTED``, with nothing
    sent, when the reader holds bytes (``has_data()``) or the socket is readable (the server
    closed it, or sent something unasked): the caller's general path then checks it."""
    if len(connection) != 5:
        raise TypeError("connection must be (sendall, recv_into, file descriptor, buffer, has_data)")
    sendall, recv_into, fd, buffer, has_data = connection
    if type(buffer) is not bytearray:  # the compiled twin reads it unchecked
        raise TypeError("the connection's buffer must be a bytearray")
    if has_data():
        return NOT_STARTED
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if poller.poll(0):
        return NOT_STARTED
    return _exchange(sendall, recv_into, frame, buffer)
