"""The compiled twin's ``exchange`` under the fast path, against a real server: replies split
across reads, several megabytes, error replies, timeouts, RESP2 and RESP3, push frames
interleaved with replies. Each gives what the client's own methods give (and the pure twin,
which keeps redis-py's parser, gives the same)."""

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.failures import failure
from support.twins import store_on

from hug_store_redis import RedisStore
from hug_store_redis.codec.wire import command
from hug_store_redis.store import WRITTEN, WriteStatus
from hug_store_redis.transport import direct_io, fast_path

pytestmark = pytest.mark.one_twin  # each test builds its stores on both twins itself

TWINS = ("cython", "python")


@pytest.fixture(autouse=True)
def both_twins_built(twins):
    """Each test runs both twins itself: skipped with the pure build (``--no-extensions``)."""


@pytest.fixture
def handoffs(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every ``Handoff`` the compiled path passed to the parser in this test."""
    seen: list[object] = []
    handed_off = direct_io.handed_off

    def counted(connection, handoff, error_reply):
        seen.append(handoff)
        return handed_off(connection, handoff, error_reply)

    monkeypatch.setattr(direct_io, "handed_off", counted)
    monkeypatch.setattr(fast_path, "handed_off", counted)
    return seen


class TrickleProxy:
    """A loopback TCP proxy that forwards the server's replies one byte at a time, each in
    its own segment, so a reply arrives in many reads."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target))
            for end in (client, server):
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, 65536), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, 1), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, chunk: int) -> None:
        try:
            while data := source.recv(65536):
                for at in range(0, len(data), chunk):
                    target.sendall(data[at : at + chunk])
                    if chunk == 1 and at % 7 == 0:
                        time.sleep(0.0002)  # lets the reader wake between bytes
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closing = True
        self._listener.close()
        for end in self._sockets:
            end.close()


@pytest.fixture
def trickle(redis_server) -> Iterator[TrickleProxy]:
    proxy = TrickleProxy(redis_server.port)
    yield proxy
    proxy.close()


def session_life(store: RedisStore) -> list[object]:
    """What a session's store calls answer, from creation to logout."""
    data = {"user": "ana", "cart": list(range(30)), "note": "é" * 40}
    results: list[object] = [store.create("s", store.encode(data))]
    sliding = store.read_payload_sliding("s", touch_after=60)
    results += [sliding.payload, sliding.payload is not None, store.get("s"), store.exists("s")]
    outcome = store.compare_and_set("s", sliding.payload, store.encode({**data, "n": 1}))
    results += [outcome.status, store.get("s")]
    conflict = store.compare_and_set("s", sliding.payload, store.encode({}))
    results += [conflict.status, conflict.current, store.read_payload("s", touch=True)]
    results += [store.delete("s"), store.exists("s"), store.read_payload_sliding("s", touch_after=60)]
    return results


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_replies_split_across_many_reads_give_what_a_direct_connection_gives(
    redis_client, redis_server, trickle, handoffs, protocol
):
    expected = session_life(RedisStore(redis.Redis(port=redis_server.port, protocol=protocol), "direct"))
    for twin in TWINS:
        client = redis.Redis(port=trickle.port, protocol=protocol, socket_timeout=10)
        store = store_on(twin, client, namespace=f"trickled-{twin}")
        assert store.uses_fast_path
        before = len(handoffs)
        assert session_life(store) == expected
        if twin == "cython":  # the pure twin never calls exchange
            assert len(handoffs) - before >= 8
            assert all(handoff.error is None and handoff.received > 0 for handoff in handoffs)
        else:
            assert len(handoffs) == before
        client.close()


def test_a_value_of_several_megabytes(redis_client):
    big = {"blob": "x" * 6_000_000, "n": list(range(1000))}
    for twin in TWINS:
        store = store_on(twin, redis_client, namespace=f"big-{twin}")
        store.set("s", big)
        assert store.get("s") == big
        read = store.read_payload_sliding("s", touch_after=60)
        assert len(read.payload) > 6_000_000
        conflict = store.compare_and_set("s", b"{}", store.encode({"small": 1}))
        assert conflict.status is WriteStatus.CONFLICT and conflict.current == read.payload
        assert store.compare_and_set("s", read.payload, store.encode({"small": 1})) is WRITTEN
        assert store.get("s") == {"small": 1}


def test_error_replies_raise_what_the_client_raises_and_keep_the_connection_in_step(redis_client, handoffs):
    redis_client.lpush("list", "x")
    with pytest.raises(redis.ResponseError) as by_client:
        redis_client.get("list")
    with pytest.raises(redis.exceptions.NoScriptError) as no_script_by_client:
        redis_client.evalsha("0" * 40, 1, "k")
    for twin in TWINS:
        store = store_on(twin, redis_client, namespace=f"errors-{twin}")
        store.set("s", {"a": 0})  # connected: every call below is a simple exchange's
        redis_client.lpush(f"errors-{twin}:list", "x")
        with pytest.raises(redis.ResponseError) as by_store:
            store.get("list")
        assert (type(by_store.value), str(by_store.value)) == (type(by_client.value), str(by_client.value))
        transport = store._transport
        frame = command(b"EVALSHA", b"0" * 40, 1, b"k")
        with pytest.raises(redis.exceptions.NoScriptError) as no_script:
            transport._fast.execute(frame, None, transport._round_trip)
        assert str(no_script.value) == str(no_script_by_client.value)
        store.set("s", {"a": 1})
        assert store.get("s") == {"a": 1}  # nothing left unread on the connection
        redis_client.script_flush()  # the sliding read's script is gone: NOSCRIPT, then EVAL
        assert store.read_payload_sliding("s", touch_after=60).payload == store.encode({"a": 1})
        assert store.read_payload_sliding("s", touch_after=60).payload == store.encode({"a": 1})
    # The cython store's WRONGTYPE and the sliding read's NOSCRIPT. The fast path drops a
    # connection after any error reply, so the EVALSHA right after WRONGTYPE reconnects
    # through the client's own send and read.
    assert [handoff.error for handoff in handoffs] == [None, None]  # error replies, read whole
    assert all(handoff.received > 0 for handoff in handoffs)


@pytest.mark.parametrize("retries", [0, 2])
def test_a_timed_out_read_raises_what_the_client_raises_and_disconnects(own_server, retries, handoffs):
    """The server is stopped (SIGSTOP): the same exception, message and chain as the client's
    own read, the connection dropped, and an answer once it runs again."""
    clients = {}
    for twin in TWINS:
        client = redis.Redis(port=own_server.port, socket_timeout=0.2, retry=Retry(NoBackoff(), retries))
        clients[twin] = client, store_on(twin, client, namespace=twin)
        clients[twin][1].set("k", 1)
    probe = redis.Redis(port=own_server.port, socket_timeout=0.2, retry=Retry(NoBackoff(), retries))
    probe.set("raw", 1)
    own_server.send(signal.SIGSTOP)
    try:
        expected = failure(lambda: probe.get("raw"))
        for twin, (_, store) in clients.items():
            assert failure(lambda store=store: store.get("k")) == expected, twin
            sliding = store.sliding_reader(60)
            assert failure(lambda sliding=sliding: sliding("k")) == expected, twin
            (kept,) = store._transport._fast._idle
            assert kept.connection._sock is None
    finally:
        own_server.send(signal.SIGCONT)
    assert expected[0] is redis.TimeoutError and expected[1].startswith("Timeout reading from")
    assert any(isinstance(handoff.error, TimeoutError) for handoff in handoffs)
    for client, store in clients.values():
        assert store.get("k") == 1
        client.close()
    probe.close()


def test_push_frames_interleaved_with_replies(redis_server, handoffs):
    """RESP3 with CLIENT TRACKING on the fast path's own connection: each write to a key it
    read brings an invalidation push beside the reply; every reply is still the right one."""
    for twin in TWINS:
        client = redis.Redis(port=redis_server.port, protocol=3)
        store = store_on(twin, client, namespace=f"pushed-{twin}")
        transport = store._transport
        fast, round_trip = transport._fast, transport._round_trip
        assert fast.execute(command(b"CLIENT", b"TRACKING", b"ON"), None, round_trip) == b"OK"
        assert len(fast._idle) == 1  # one connection: the tracking one
        before = len(handoffs)
        for n in range(20):
            store.set("s", {"n": n})  # invalidates what this connection read: a push
            assert store.get("s") == {"n": n}
            assert store.read_payload_sliding("s", touch_after=60).payload == store.encode({"n": n})
            assert store.exists("s")
        (kept,) = fast._idle
        assert kept.connection._sock is not None  # never out of step, never dropped
        if twin == "cython":
            assert len(handoffs) > before
        client.close()


def test_a_decoding_client_keeps_the_parser(redis_client, redis_server, handoffs, monkeypatch):
    calls = []
    exchanging = direct_io.exchanging

    def watched(twin):
        round_trip = exchanging(twin)

        def wrapped(connection, frame):
            calls.append(connection.encoder.decode_responses)
            return round_trip(connection, frame)

        return wrapped

    monkeypatch.setattr("hug_store_redis.transport.fast_transport.exchanging", watched)
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    store = store_on("cython", client, namespace="decoding")
    store.set("s", {"a": "é"})
    assert store.get("s") == {"a": "é"}
    assert store.read_payload_sliding("s", touch_after=60).payload == store.encode({"a": "é"}).decode()
    assert calls and all(calls)
    assert handoffs == []
