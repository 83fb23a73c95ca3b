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
"""

from typing import Any, NoReturn

import redis
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
