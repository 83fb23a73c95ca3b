"""An incremental RESP3 reader for the invalidation connection.

The listener owns its socket and must interleave heartbeats, push messages and deadlines on
one thread, which redis-py's connection does not expose across its supported versions (push
handling differs between its Python and hiredis parsers). This reader is fed whatever bytes
arrived and yields each complete message; it never blocks.
"""

from collections.abc import Iterator
from typing import Any

from ..codec.wire import command as encode_command

__all__ = ["ProtocolError", "Push", "ReplyError", "Resp3Reader", "encode_command"]


class ProtocolError(Exception):
    """The server sent something that is not RESP3."""


class Push(list[Any]):
    """An out-of-band message (``>``): ``[b"invalidate", keys or None]`` and the like."""


class ReplyError(Exception):
    """An error reply (``-`` or ``!``) to one of the listener's commands."""


class _Incomplete(Exception):
    pass


class Resp3Reader:
    """Accumulates bytes; ``messages()`` yields every complete message, in order."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def messages(self) -> Iterator[Any]:
        buffer = self._buffer
        while buffer:
            if buffer.startswith(_ONE_INVALIDATION):  # a write's push: most of what arrives
                found = _one_invalidation(buffer)
                if found is not None:
                    yield found
                    continue
            try:
                message, end = _parse(buffer, 0)
            except _Incomplete:
                return
            del buffer[:end]
            yield message


_ONE_INVALIDATION = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$"
_KEY_AT = len(_ONE_INVALIDATION)


def _one_invalidation(buffer: bytearray) -> Push | None:
    """``[b"invalidate", [key]]`` taken off the buffer's front; None leaves it to ``_parse``.

    The same message ``_parse`` returns, read without its general walk: the listener reads
    one such push per write to a tracked key, this process's own included.
    """
    end = buffer.find(b"\r\n", _KEY_AT)
    length = buffer[_KEY_AT:end]
    if end < 0 or not length.isdigit():
        return None  # incomplete, or a form _parse judges (and reports) itself
    start = end + 2
    stop = start + int(length)
    if buffer[stop : stop + 2] != b"\r\n":
        return None
    key = bytes(buffer[start:stop])
    del buffer[: stop + 2]
    return Push([b"invalidate", [key]])


def _line(buffer: bytearray, pos: int) -> tuple[bytes, int]:
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    return bytes(buffer[pos:end]), end + 2


def _blob(buffer: bytearray, pos: int, length: int) -> tuple[bytes, int]:
    if len(buffer) < pos + length + 2:
        raise _Incomplete
    if buffer[pos + length : pos + length + 2] != b"\r\n":
        raise ProtocolError("blob not terminated by CRLF")
    return bytes(buffer[pos : pos + length]), pos + length + 2


def _items(buffer: bytearray, pos: int, count: int) -> tuple[list[Any], int]:
    items = []
    for _ in range(count):
        item, pos = _parse(buffer, pos)
        items.append(item)
    return items, pos


def _parse(buffer: bytearray, pos: int) -> tuple[Any, int]:
    if pos >= len(buffer):
        raise _Incomplete
    kind = bytes(buffer[pos : pos + 1])
    line, pos = _line(buffer, pos + 1)
    try:
        if kind == b"+":
            return line, pos
        if kind == b"-":
            return ReplyError(line.decode("utf-8", "replace")), pos
        if kind in (b":", b"("):
            return int(line), pos
        if kind == b"_":
            return None, pos
        if kind == b"#":
            return line == b"t", pos
        if kind == b",":
            return float(line), pos
        if kind in (b"$", b"=", b"!"):
            length = int(line)
            if length < 0:
                return None, pos  # RESP2-style null bulk
            data, pos = _blob(buffer, pos, length)
            if kind == b"!":
                return ReplyError(data.decode("utf-8", "replace")), pos
            return (data[4:] if kind == b"=" else data), pos
        if kind in (b"*", b"~", b">"):
            count = int(line)
            if count < 0:
                return None, pos
            items, pos = _items(buffer, pos, count)
            return (Push(items) if kind == b">" else items), pos
        if kind in (b"%", b"|"):
            flat, pos = _items(buffer, pos, 2 * int(line))
            pairs = dict(zip(flat[::2], flat[1::2], strict=True))
            if kind == b"|":  # attributes annotate the value that follows
                return _parse(buffer, pos)
            return pairs, pos
    except (ValueError, TypeError) as error:
        raise ProtocolError(f"bad RESP3 message {kind!r}{line!r}") from error
    raise ProtocolError(f"unknown RESP3 type {kind!r}")
