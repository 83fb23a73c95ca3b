"""The fast path's direct send and read: a failure raises, logs, disconnects and retries as the
client's own ``send_packed_command`` / ``read_response`` under its ``Retry`` do."""

import json
import signal

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.failures import failure

from hug_store_redis import RedisStore
from hug_store_redis.transport import direct_io

pytestmark = pytest.mark.one_twin


class Counting(redis.Connection):
    """Counts the sockets it opens: each attempt after a failed one opens one."""

    connects = 0

    def _connect(self):
        type(self).connects += 1
        return super()._connect()


@pytest.mark.parametrize("retries", [0, 2])
def test_a_read_that_times_out_fails_as_the_clients_own_read(own_server, retries):
    """The server is stopped (SIGSTOP): both time out, with the same error, after the same
    number of attempts (each retry reconnects), and both answer once it runs again."""
    client = redis.Redis(
        connection_pool=redis.ConnectionPool(
            port=own_server.port,
            socket_timeout=0.2,
            retry=Retry(NoBackoff(), retries),
            connection_class=Counting,
        )
    )
    store = RedisStore(client)
    assert store.uses_fast_path
    store.set("k", 1)
    client.set("raw", 1)
    own_server.send(signal.SIGSTOP)
    try:
        before = Counting.connects
        expected = failure(lambda: client.get("raw"))
        client_attempts = Counting.connects - before
        before = Counting.connects
        assert failure(lambda: store.get("k")) == expected
        assert Counting.connects - before == client_attempts == retries
    finally:
        own_server.send(signal.SIGCONT)
    assert expected[0] is redis.TimeoutError
    assert store.get("k") == 1  # the timed-out connection was dropped, not read out of step
    client.close()


def test_a_send_that_times_out_fails_as_the_clients_own_send(own_server):
    """The server is stopped: a value larger than the socket buffers cannot be sent in time."""
    client = redis.Redis(port=own_server.port, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
    store = RedisStore(client)
    store.set("k", 1)
    client.set("raw", 1)
    (kept,) = store._transport._fast._idle
    large = {"blob": "x" * 20_000_000}
    own_server.send(signal.SIGSTOP)
    try:
        expected = failure(lambda: client.set("raw", json.dumps(large)))
        assert failure(lambda: store.set("k", large)) == expected
    finally:
        own_server.send(signal.SIGCONT)
    assert expected[:2] == (redis.TimeoutError, "Timeout writing to socket")
    assert kept.connection._sock is None  # disconnected as the client's send does
    assert store.get("k") == 1  # the next call reconnects; the partial write was never completed
    client.close()


def test_a_retried_read_reconnects_and_succeeds(own_server):
    """The first read times out while the server is stopped; the retry, after it runs again, succeeds."""
    client = redis.Redis(port=own_server.port, socket_timeout=0.2, retry=Retry(NoBackoff(), 1))
    store = RedisStore(client)
    store.set("k", 1)

    (kept,) = store._transport._fast._idle
    connection = kept.connection
    disconnect = connection.disconnect

    def disconnect_and_resume(*args, **kwargs):
        own_server.send(signal.SIGCONT)
        return disconnect(*args, **kwargs)

    connection.disconnect = disconnect_and_resume
    own_server.send(signal.SIGSTOP)
    try:
        assert store.get("k") == 1
    finally:
        own_server.send(signal.SIGCONT)
    client.close()


def test_error_replies_raise_as_values_of_the_family(redis_server):
    """An error reply is raised after a complete read: the connection stays in step."""
    client = redis.Redis(port=redis_server.port)
    store = RedisStore(client)
    client.lpush("store:list", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.get("list")
    store.set("k", 1)
    assert store.get("k") == 1
    client.delete("store:list")


def test_a_connection_class_with_its_own_send_keeps_the_clients_methods(redis_server):
    sent = []

    class Recording(redis.Connection):
        def send_packed_command(self, command, check_health=True):
            sent.append(command)
            super().send_packed_command(command, check_health)

    client = redis.Redis(
        connection_pool=redis.ConnectionPool(port=redis_server.port, connection_class=Recording)
    )
    store = RedisStore(client)
    assert direct_io._error_reply_class(Recording) is None
    store.set("k", 1)
    assert store.get("k") == 1
    commands = [b"".join(command) for command in sent]
    assert [command for command in commands if b"store:k" in command] == [
        b"*5\r\n$3\r\nSET\r\n$7\r\nstore:k\r\n$1\r\n1\r\n$2\r\nEX\r\n$5\r\n86400\r\n",
        b"*2\r\n$3\r\nGET\r\n$7\r\nstore:k\r\n",
    ]
    client.close()
