"""The twins' reply section (``parse_reply``, ``exchange``): what they parse is what hiredis
parses, byte for byte; everything else is handed back. Random, truncated and corrupted RESP
never crashes the compiled parser."""

import re
import socket
import threading
from typing import Any

import hiredis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.hypothesis_profiles import FUZZ

pytestmark = pytest.mark.one_twin  # both twins side by side (``twins``)


def crlf(line: bytes) -> bytes:
    return line + b"\r\n"


def integer() -> st.SearchStrategy[bytes]:
    return st.integers(-(2**63), 2**63 - 1).map(lambda number: crlf(b":%d" % number))


def bulk() -> st.SearchStrategy[bytes]:
    return st.binary(max_size=40).map(lambda data: crlf(b"$%d" % len(data)) + crlf(data))


def simple_string() -> st.SearchStrategy[bytes]:
    return (
        st.binary(max_size=20)
        .filter(lambda data: b"\r" not in data and b"\n" not in data)
        .map(lambda data: crlf(b"+" + data))
    )


SCALARS = st.one_of(
    integer(),
    bulk(),
    simple_string(),
    st.sampled_from([b"$-1\r\n", b"_\r\n", b"-ERR no\r\n", b"#t\r\n", b",1.5\r\n", b"(12\r\n"]),
)


@st.composite
def replies(draw: st.DrawFn) -> bytes:
    """A reply: a scalar, an array of them (nested now and then), or a push frame before one."""
    kind = draw(st.sampled_from(["scalar", "array", "nested", "push", "nil-array"]))
    if kind == "scalar":
        return draw(SCALARS)
    if kind == "nil-array":
        return b"*-1\r\n"
    items = draw(st.lists(SCALARS, max_size=5))
    if kind == "nested":
        items.append(b"*1\r\n" + draw(SCALARS))
    array = crlf(b"*%d" % len(items)) + b"".join(items)
    if kind == "push":
        return b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n" + array
    return array


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A reply cut short, with bytes after it, with a byte changed, or bytes at random."""
    reply = draw(replies())
    how = draw(st.sampled_from(["whole", "cut", "extra", "changed", "random"]))
    if how == "cut":
        return reply[: draw(st.integers(0, max(len(reply) - 1, 0)))]
    if how == "extra":
        return reply + draw(st.binary(min_size=1, max_size=8))
    if how == "changed" and reply:
        at = draw(st.integers(0, len(reply) - 1))
        return reply[:at] + bytes([draw(st.integers(0, 255))]) + reply[at + 1 :]
    if how == "random":
        return draw(st.binary(max_size=60))
    return reply


def hiredis_parse(data: bytes) -> Any:
    """hiredis's value for ``data`` when it is exactly one whole reply; else a reason."""
    reader = hiredis.Reader(notEnoughData=Ellipsis)
    reader.feed(data)
    try:
        value = reader.gets()
    except hiredis.ProtocolError:
        return "protocol error"
    if value is Ellipsis:
        return "incomplete"
    if reader.has_data():
        return "bytes left over"
    return value


def same(first: Any, second: Any) -> bool:
    """Equal, with equal types all the way down (``1 == True``, ``b"" == ...`` will not pass)."""
    if type(first) is not type(second):
        return False
    if isinstance(first, list):
        return len(first) == len(second) and all(map(same, first, second))
    return bool(first == second)


@FUZZ
@given(damaged())
def test_a_parsed_reply_is_what_hiredis_reads_and_both_twins_agree(twins, data):
    python, cython = twins.values()
    compiled = cython.parse_reply(bytearray(data), len(data))
    pure = python.parse_reply(data, len(data))
    assert (compiled is cython.NOT_SIMPLE) == (pure is python.NOT_SIMPLE)
    if compiled is cython.NOT_SIMPLE:
        return
    assert same(compiled, pure)
    assert same(compiled, hiredis_parse(data))


@FUZZ
@given(replies())
def test_every_simple_reply_is_parsed_here(twins, data):
    """What a fast-path command gets back (no error, no push, no RESP3-only type, integers of
    at most 18 digits) never goes to hiredis."""
    python, cython = twins.values()
    expected = hiredis_parse(data)
    simple = not any(
        marker in data for marker in (b"-ERR", b"#t", b",1.5", b"(12", b">2", b"*1\r\n*", b"*1\r\n-")
    )
    nested = data.startswith(b"*") and b"\r\n*" in data[1:]
    long_integer = re.search(rb"(^|\n):-?[0-9]{19}", data) is not None
    compiled = cython.parse_reply(data, len(data))
    if simple and not nested and not long_integer:
        assert same(compiled, expected)
        assert same(python.parse_reply(data, len(data)), expected)


@FUZZ
@given(st.binary(max_size=80), st.integers(-5, 100))
def test_garbage_and_wrong_sizes_never_crash_the_compiled_parser(twins, data, size):
    python, cython = twins.values()
    compiled = cython.parse_reply(bytearray(data), size)
    if size > len(data) or size <= 0:
        assert compiled is cython.NOT_SIMPLE
    pure = python.parse_reply(data, size)
    assert (compiled is cython.NOT_SIMPLE) == (pure is python.NOT_SIMPLE)


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"*3\r\n$5\r\nvalue\r\n:86399000\r\n:0\r\n", [b"value", 86399000, 0]),
        (b"$-1\r\n", None),
        (b"_\r\n", None),
        (b"*-1\r\n", None),
        (b"+OK\r\n", b"OK"),
        (b":-9223372036854775808\r\n", "not simple"),  # 19 digits: hiredis's
        (b":-0\r\n", "not simple"),  # hiredis refuses it: so does its caller, through hiredis
        (b"$3\r\nabcXY", "not simple"),  # hiredis does not check the CRLF; we hand it over
        (b"-NOSCRIPT No matching script\r\n", "not simple"),
        (b">2\r\n$10\r\ninvalidate\r\n*0\r\n:1\r\n", "not simple"),
        (b":1\r\n:2\r\n", "not simple"),
    ],
)
def test_replies_at_the_edges(twins, data, value):
    for twin in twins.values():
        parsed = twin.parse_reply(data, len(data))
        assert parsed is twin.NOT_SIMPLE if value == "not simple" else same(parsed, value)


@FUZZ
@given(damaged(), st.integers(1, 3))
def test_exchange_sends_the_frame_and_hands_back_what_it_cannot_parse(twins, reply, chunks):
    """On a socket pair: the frame arrives whole, a whole simple reply is its value, anything
    else a ``Handoff`` holding the count of the bytes left in the buffer."""
    for twin in twins.values():
        ours, theirs = socket.socketpair()
        with ours, theirs:
            theirs.sendall(reply)
            if not reply:
                theirs.shutdown(socket.SHUT_WR)
            buffer = bytearray(64)
            result = twin.exchange(ours, b"PING\r\n", buffer)
            assert theirs.recv(100) == b"PING\r\n"
            received = len(reply[:64])
            parsed = twin.parse_reply(reply[:64], received)
            if isinstance(result, twin.Handoff):
                assert (result.sent, result.error, result.received) == (True, None, received)
                assert parsed is twin.NOT_SIMPLE or len(reply) > 64
                assert bytes(buffer[:received]) == reply[:received]
            else:
                assert same(result, parsed)


def test_exchange_hands_back_what_the_socket_raised(twins):
    for twin in twins.values():
        ours, theirs = socket.socketpair()
        ours.settimeout(0.01)
        with ours, theirs:
            timed_out = twin.exchange(ours, b"PING\r\n", bytearray(16))
            assert isinstance(timed_out, twin.Handoff)
            assert (timed_out.sent, type(timed_out.error), timed_out.received) == (True, TimeoutError, 0)
        closed = twin.exchange(ours, b"PING\r\n", bytearray(16))
        assert isinstance(closed, twin.Handoff)
        assert (closed.sent, type(closed.error)) == (False, OSError)


@pytest.mark.parametrize("why", ["reader holds bytes", "socket readable", "peer closed", "idle"])
def test_exchange_idle_sends_nothing_unless_the_connection_is_idle_and_in_step(twins, why):
    for twin in twins.values():
        ours, theirs = socket.socketpair()
        with ours, theirs:
            if why == "socket readable":
                theirs.sendall(b">2\r\n")
            if why == "peer closed":
                theirs.shutdown(socket.SHUT_WR)
            if why == "idle":
                theirs.sendall(b"+PONG\r\n")  # the reply, already there: readable, so not idle
            result = twin.exchange_idle(
                (
                    ours.sendall,
                    ours.recv_into,
                    ours.fileno(),
                    bytearray(16),
                    lambda why=why: why == "reader holds bytes",
                ),
                b"PING\r\n",
            )
            assert result is twin.NOT_STARTED
            theirs.setblocking(False)
            with pytest.raises(BlockingIOError):
                theirs.recv(100)  # nothing was sent
        ours, theirs = socket.socketpair()
        with ours, theirs:
            answer = threading.Thread(
                target=lambda theirs=theirs: (theirs.recv(100), theirs.sendall(b":7\r\n"))
            )
            answer.start()
            assert (
                twin.exchange_idle(
                    (ours.sendall, ours.recv_into, ours.fileno(), bytearray(16), lambda: False), b"PING\r\n"
                )
                == 7
            )
            with pytest.raises(TypeError):
                twin.exchange_idle((ours.sendall, ours.fileno()), b"PING\r\n")
            answer.join()


def test_none_for_a_buffer_raises_in_both_twins(twins):
    """The compiled twin reads its buffer unchecked: None must be refused, never read."""
    for twin in twins.values():
        with pytest.raises(TypeError):
            twin.parse_reply(None, 3)
        with pytest.raises(TypeError, match="buffer must be a bytearray"):
            twin.exchange_idle((None, None, -1, None, lambda: False), b"x")
