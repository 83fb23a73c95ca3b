"""A send that fails after part of the frame went out, on the fast path against a real server:
the store does what redis-py's own path does. The retry policy reconnects and resends once, and
a compare-and-set whose first send did or did not reach the server settles to WRITTEN (a resend
that finds its own bytes is its own write, never a conflict to merge into itself).

On the compiled twin the send is ``exchange_idle``'s (``kept.exchanged[0]``); on the pure twin
it is the connection's socket's ``sendall``, through ``send_packed_command``."""

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.twins import store_on

from hug_store_redis import RedisStore
from hug_store_redis.store import WRITTEN

pytestmark = pytest.mark.one_twin  # each test builds its stores on both twins itself

TWINS = ("cython", "python")


@pytest.fixture(autouse=True)
def both_twins_built(twins):
    """Each test runs both twins itself: skipped with the pure build (``--no-extensions``)."""


class Counting(redis.Connection):
    """Counts the sockets it opens: the resend after the failed one opens one."""

    connects = 0

    def _connect(self) -> Any:
        type(self).connects += 1
        return super()._connect()


class FailingOnce:
    """The real socket, except that its first ``sendall`` sends ``part`` of the frame (all of it:
    the server ran the command) and then raises ``socket.timeout`` (``TimeoutError``), as a send
    whose peer stopped reading does. ``settle``, when given, runs between the bytes sent and the timeout."""

    def __init__(self, sock: socket.socket, part: float, settle: Callable[[], None] | None = None) -> None:
        self._sock = sock
        self._part = part
        self._settle = settle
        self.failed = 0

    def sendall(self, data: Any) -> None:
        if self.failed:
            return self._sock.sendall(data)
        self.failed += 1
        data = bytes(data)
        self._sock.sendall(data[: int(len(data) * self._part)])
        if self._settle is not None:
            self._settle()
        raise TimeoutError("timed out")  # socket.timeout

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def failing_next_send(
    store: RedisStore, twin: str, failing: Callable[[socket.socket], FailingOnce]
) -> FailingOnce:
    """Put a ``FailingOnce`` where ``twin``'s next send on the store's kept connection goes."""
    (kept,) = store._transport._fast._idle
    if twin == "cython":
        assert kept.exchanged is not None
        stand_in = failing(kept.sock)
        kept.exchanged = (stand_in.sendall, *kept.exchanged[1:])
    else:
        stand_in = failing(kept.connection._sock)
        kept.connection._sock = kept.sock = stand_in  # the same socket to the stale check
    return stand_in


def store_with_one_retry(port: int, twin: str) -> tuple[redis.Redis, RedisStore]:
    client = redis.Redis(
        connection_pool=redis.ConnectionPool(
            port=port, socket_timeout=5, retry=Retry(NoBackoff(), 1), connection_class=Counting
        )
    )
    store = store_on(twin, client, namespace=f"failed-{twin}")
    assert store.uses_fast_path
    return client, store


def applied(probe: redis.Redis, key: str, payload: bytes) -> Callable[[], None]:
    """Waits until the server holds ``payload`` at ``key``: the first send ran before it failed."""

    def wait() -> None:
        for _ in range(5000):
            if probe.get(key) == payload:
                return
            time.sleep(0.001)
        raise AssertionError("the first send never ran")

    return wait


@pytest.mark.parametrize("reached", [False, True], ids=["half-sent", "sent-and-ran"])
def test_a_compare_and_set_whose_send_failed_settles_to_written(redis_client, redis_server, reached):
    for twin in TWINS:
        client, store = store_with_one_retry(redis_server.port, twin)
        key = f"failed-{twin}:s"
        first, base, new = (
            store.encode({"n": 0}),
            store.encode({"n": 1}),
            store.encode({"n": 2, "cart": [1] * 50}),
        )
        assert store.create("s", first)
        assert store.compare_and_set("s", first, base) is WRITTEN  # the transport knows the server
        stand_in = failing_next_send(
            store,
            twin,
            lambda sock, key=key, new=new: FailingOnce(
                sock, 1.0 if reached else 0.5, applied(redis_client, key, new) if reached else None
            ),
        )
        connects = Counting.connects
        outcome = store.compare_and_set("s", base, new)
        assert (stand_in.failed, Counting.connects - connects) == (1, 1), twin  # one resend, reconnected
        assert outcome is WRITTEN, (twin, outcome)  # never a conflict with its own bytes
        assert redis_client.get(key) == new
        assert store.get("s") == {"n": 2, "cart": [1] * 50}
        stats = store.stats()
        assert (stats["conflicts"], stats["errors"]) == (0, 0), twin
        client.close()


@pytest.mark.parametrize("part", [0.5, 1.0], ids=["half-sent", "all-sent"])
def test_a_sliding_read_whose_send_failed_is_resent_and_answers(redis_client, redis_server, part):
    for twin in TWINS:
        client, store = store_with_one_retry(redis_server.port, twin)
        payload = store.encode({"user": "ana"})
        assert store.create("s", payload)
        read = store.sliding_reader(60)
        assert read("s")[0] == payload  # the sliding read's script is loaded
        stand_in = failing_next_send(store, twin, lambda sock: FailingOnce(sock, part))
        connects = Counting.connects
        value, ttl_ms, _ = read("s")
        assert (stand_in.failed, Counting.connects - connects) == (1, 1), twin
        assert value == payload and ttl_ms > 0, twin
        assert store.stats()["errors"] == 0
        client.close()


def test_without_retries_the_failed_send_raises_what_the_client_raises_and_loses_nothing(
    redis_client, redis_server
):
    for twin in TWINS:
        client = redis.Redis(port=redis_server.port, socket_timeout=5, retry=Retry(NoBackoff(), 0))
        store = store_on(twin, client, namespace=f"failed-{twin}")
        base = store.encode({"n": 1})
        assert store.create("s", base)
        failing_next_send(store, twin, lambda sock: FailingOnce(sock, 0.5))
        with pytest.raises(redis.TimeoutError, match="Timeout writing to socket"):
            store.compare_and_set("s", base, store.encode({"n": 2}))
        assert redis_client.get(f"failed-{twin}:s") == base  # half a command never runs
        assert store.compare_and_set("s", base, store.encode({"n": 2})) is WRITTEN  # reconnected
        client.close()
