"""One framed command's send and reply on a redis-py connection, without its per-call wrappers.

``Connection.send_packed_command`` and ``read_response`` wrap two calls (the socket's
``sendall``, the parser's ``read_response``) in a health check, an error-message string
built before every read (``_host_error``), and handlers that translate and log failures:
about 7,000 instructions per round trip, more than the bare socket's send and receive.
On a connection whose class uses them as its family defines them and has no periodic
health check, the fast path calls the socket and the parser directly. A failure, which
is rare, is replayed through the connection's own method (``_raise_as_sent``,
``_raise_as_read``), so the caller gets the client's exception, message, log line and
disconnect exactly as before; the error reply a read returns as a value raises as
``read_response`` raises it.

A store on the compiled twin goes one step further (``exchanging``): the twin's
``exchange`` sends the frame, reads once into the parser's own buffer and parses a simple
reply in C, skipping redis-py's parser wrapper and hiredis's reader (about 8,000
instructions). What it does not finish (an error reply, a push frame, a reply split across
reads, bytes beyond it, a socket failure) goes to the connection's parser as if that had
read those bytes itself (``handed_off``): the same values, exceptions and disconnects.
"""

import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any, NoReturn

import redis
from redis._parsers.hiredis import _HiredisParser
from redis.connection import AbstractConnection

# Per connection family: its base class, whose two methods are the ones replaced, and the
# error-reply class its parsers return as a value.
_FAMILIES: list[tuple[Any, type[Exception]]] = [(AbstractConnection, redis.ResponseError)]
try:
    import valkey
    from valkey.connection import AbstractConnection as ValkeyConnection
except ModuleNotFoundError:  # valkey-py is optional
    pass
else:
    _FAMILIES.append((ValkeyConnection, valkey.ResponseError))

# Connection class -> its family's error-reply class, or None when the class is not served.
_SERVED: dict[type, type[Exception] | None] = {}


def _error_reply_class(connection_class: Any) -> type[Exception] | None:
    """The class's family's error-reply class when it sends and reads as its family does."""
    for base, error_reply in _FAMILIES:
        if (
            issubclass(connection_class, base)
            and connection_class.send_packed_command is base.send_packed_command
            and connection_class.read_response is base.read_response
        ):
            return error_reply
    return None


def round_trip(connection: Any, frame: bytes) -> Any:
    """``frame`` sent and its reply read, as ``send_packed_command`` + ``read_response`` do."""
    connection_class = type(connection)
    try:
        error_reply = _SERVED[connection_class]
    except KeyError:
        error_reply = _SERVED[connection_class] = _error_reply_class(connection_class)
    sock = connection._sock
    if error_reply is None or sock is None or connection.health_check_interval:
        connection.send_packed_command((frame,))  # connects, checks health: the client's way
        return connection.read_response()
    try:
        sock.sendall(frame)
    except BaseException as error:
        _raise_as_sent(connection, error)
    try:
        reply = connection._parser.read_response()
    except BaseException as error:
        _raise_as_read(connection, error)
    if isinstance(reply, error_reply):
        raise reply
    return reply


def exchanging(twin: ModuleType) -> Callable[[Any, bytes], Any]:
    """``round_trip`` through ``twin.exchange`` (the compiled twin's) where it reads as hiredis.

    Only on a plain TCP socket under redis-py's hiredis parser with nothing buffered in its
    reader, on a connection that does not decode replies and has no health check; any other
    connection gets ``round_trip``.
    """
    exchange = twin.exchange
    handoff = twin.Handoff

    def exchanged_round_trip(connection: Any, frame: bytes) -> Any:
        error_reply = exchangeable(connection)
        if error_reply is None or connection._parser._reader.has_data():
            return round_trip(connection, frame)
        reply = exchange(connection._sock, frame, connection._parser._buffer)
        if type(reply) is handoff:
            return handed_off(connection, reply, error_reply)
        return reply

    return exchanged_round_trip


def exchangeable(connection: Any) -> type[Exception] | None:
    """The error-reply class of a connection the compiled exchange may read on (a plain TCP
    socket, redis-py's hiredis parser, no decoding, no health check, a served class), else None."""
    if (
        type(connection._sock) is not socket.socket
        or type(connection._parser) is not _HiredisParser
        or connection.health_check_interval
        or connection.encoder.decode_responses
    ):
        return None
    connection_class = type(connection)
    try:
        return _SERVED[connection_class]
    except KeyError:
        error_reply = _SERVED[connection_class] = _error_reply_class(connection_class)
        return error_reply


def handed_off(connection: Any, handoff: Any, error_reply: type[Exception]) -> Any:
    """Finish what ``exchange`` left, as ``round_trip`` would have: a failed send or read is
    replayed through the connection's methods, received bytes go to the parser's reader."""
    if not handoff.sent:
        _raise_as_sent(connection, handoff.error)
    if handoff.error is not None:
        _raise_as_received(connection, handoff.error)
    parser = connection._parser
    if handoff.received:
        parser._reader.feed(parser._buffer, 0, handoff.received)
    try:
        reply = parser.read_response()
    except BaseException as error:
        _raise_as_read(connection, error)
    if isinstance(reply, error_reply):
        raise reply
    return reply


def _raise_as_received(connection: Any, error: BaseException) -> NoReturn:
    """Raise what ``read_response`` raises when the socket's ``recv_into`` raised ``error``:
    the parser translates it (a timeout into ``TimeoutError``) without reading again, so a
    timeout is never waited for twice."""
    parser = connection._parser
    sock = parser._sock
    parser._sock = _Failing(sock, "recv_into", error)
    failure: BaseException = error
    try:
        parser.read_response()  # nothing buffered: it reads, and the stand-in raises
    except BaseException as translated:
        failure = translated
    finally:
        if isinstance(parser._sock, _Failing):
            parser._sock = sock
    _raise_as_read(connection, failure)


def pipelined_round_trip(connection: Any, frames: tuple[bytes, ...]) -> list[Any]:
    """Several frames in one round trip; the replies in order (an error reply raises)."""
    connection.send_packed_command(frames)
    return [connection.read_response() for _ in frames]


class _Failing:
    """Stands in for a socket or a parser for one call: ``name`` raises ``error``, the rest is the real one's.

    The connection's handler then sees the same exception at the same place, and its
    disconnect reaches the real socket and parser through ``__getattr__``.
    """

    def __init__(self, real: Any, name: str, error: BaseException) -> None:
        self._real = real
        self._error = error
        setattr(self, name, self._raise)

    def _raise(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise self._error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __bool__(self) -> bool:
        return True


def _raise_as_sent(connection: Any, error: BaseException) -> NoReturn:
    """Raise what ``send_packed_command`` raises, and disconnect as it does, for ``sendall``'s ``error``."""
    sock = connection._sock
    connection._sock = _Failing(sock, "sendall", error)
    try:
        connection.send_packed_command((b"",), check_health=False)
    finally:
        if isinstance(connection._sock, _Failing):  # not disconnected: put the socket back
            connection._sock = sock
    raise error  # not reached: the stand-in raised inside


def _raise_as_read(connection: Any, error: BaseException) -> NoReturn:
    """Raise what ``read_response`` raises, and disconnect as it does, for the parser's ``error``."""
    parser = connection._parser
    connection._parser = _Failing(parser, "read_response", error)
    try:
        connection.read_response()
    finally:
        connection._parser = parser
    raise error  # not reached: the stand-in raised inside
