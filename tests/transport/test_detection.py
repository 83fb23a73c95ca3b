"""``native.Detected`` when the node changes under it, on a real Redis 7.0 (the old node: no
HEXPIRE, no SET IFEQ) and a real Valkey 9.1 (the new one), whatever ``--server`` says.

``Moving`` is a client whose server changes when the test says, as a Sentinel-managed client's
does at a switch; its ``held`` gate stops a detection inside its round trip, so the test puts a
switch, a ``forget`` or another caller exactly there (no sleeps, no timing).
"""

import threading

import pytest
import redis
from support.server_kinds import valkey9_server_executable
from support.servers import RedisServer

from hug_store_redis.topology.sentinel_listener import MasterFollower
from hug_store_redis.transport import native

pytestmark = pytest.mark.one_twin

WAIT_S = 10  # for a thread the test released or expects to finish (not a timing assert)
HOLD_S = 60  # a held command's gate: longer than any wait of the test's, so never what ends it


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    old = RedisServer(tmp_path_factory.mktemp("redis-7.0"), executable="redis-server").start()
    new = RedisServer(tmp_path_factory.mktemp("valkey-9.1"), executable=valkey9_server_executable()).start()
    yield old, new
    old.stop()
    new.stop()


@pytest.fixture
def clients(servers):
    made = [redis.Redis(port=server.port, socket_timeout=5) for server in servers]
    yield made
    for client in made:
        client.close()


class Moving:
    """A client on ``client`` until moved; counts the commands it sends. Set ``held`` to stop
    the next command until ``release`` is set (``entered`` says it got there)."""

    def __init__(self, client):
        self.client, self.sent = client, 0
        self.held = self.entered = self.release = None

    def execute_command(self, *args, **options):
        self.sent += 1
        client = self.client  # the server the command is sent to, moved meanwhile or not
        if self.held is not None:
            self.held = None
            self.entered.set()
            self.release.wait(HOLD_S)
        return client.execute_command(*args, **options)

    def hold(self):
        self.held, self.entered, self.release = True, threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self.client, name)


def in_thread(call):
    result, done = [], threading.Event()

    def run():
        try:
            result.append(call())
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    return result, done


class SweptPool(redis.ConnectionPool):
    """A pool the follower sweeps at a switch; ``during`` runs inside that sweep."""

    sentinel_manager = None

    def __init__(self, during, **options):
        super().__init__(**options)
        self.during = during

    def disconnect(self, inuse_connections=True):
        super().disconnect(inuse_connections)
        self.during()


def test_a_detection_during_a_switchs_sweep_is_asked_again_after_it(clients, servers):
    """Asked while the follower still sweeps the old primary's connections, the old primary
    may answer: that answer must not stand for the new primary once the switch is done."""
    old_client, new_client = clients
    moving = Moving(old_client)
    follower = MasterFollower("mymaster", [])
    detected = native.Detected(moving, lambda: follower.switched)
    assert not detected.get().hash_field_expiry  # the old primary (7.0)
    in_the_window = []
    pool = SweptPool(lambda: in_the_window.append(detected.get()), port=servers[0].port)
    follower._pools.add(pool)
    follower._switch(("127.0.0.1", servers[0].port), ("127.0.0.1", servers[1].port), ("127.0.0.1", 1), 0.0)
    moving.client = new_client  # the pool's next connection goes to the new primary
    assert len(in_the_window) == 1
    assert detected.get().hash_field_expiry  # asked again: Valkey 9.1
    pool.disconnect()


def test_a_failed_re_detection_keeps_the_previous_answer_and_waits_before_asking_again(tmp_path):
    now = [100.0]
    server = RedisServer(tmp_path, executable=valkey9_server_executable()).start()
    client = redis.Redis(port=server.port, socket_timeout=5)
    moving = Moving(client)
    try:
        detected = native.Detected(moving, clock=lambda: now[0])
        first = detected.get()
        assert first.hash_field_expiry
        server.stop()
        detected.forget()
        sent = moving.sent
        assert detected.get() is first  # the server does not answer: the previous answer
        assert moving.sent == sent + 1
        assert detected.get() is first and moving.sent == sent + 1  # not asked again yet
        detected.forget()  # another sign of a change (every refused write gives one)
        assert detected.get() is first and moving.sent == sent + 1  # still not: it does not answer
        now[0] += native.RETRY_S
        server.start()
        assert detected.get() == first and moving.sent > sent + 1  # asked again, answered
        sent = moving.sent
        assert detected.get() == first and moving.sent == sent  # and kept
    finally:
        client.close()
        server.stop()


def test_while_one_caller_asks_the_others_keep_the_previous_answer(clients):
    """No lock over the round trip: a caller (or a NOSCRIPT, a ``forget``) never waits behind
    another's detection once there is an answer to serve."""
    old_client, _ = clients
    moving = Moving(old_client)
    detected = native.Detected(moving)
    first = detected.get()
    detected.forget()
    moving.hold()
    asker, asked = in_thread(detected.get)
    assert moving.entered.wait(WAIT_S)
    other, answered = in_thread(lambda: (detected.script_missing("sha"), detected.get())[1])
    answered.wait(WAIT_S)
    held_up = not answered.is_set()
    moving.release.set()
    assert asked.wait(WAIT_S) and answered.wait(WAIT_S)
    assert not held_up and other == [first] and asker == [first]


def test_a_change_signalled_while_asking_discards_that_answer(clients):
    """``forget`` (a refused native command) while a detection is in flight on the old node:
    its answer is not kept, and the next call asks the new node."""
    old_client, new_client = clients
    moving = Moving(old_client)
    detected = native.Detected(moving)
    assert not detected.get().delifeq
    detected.forget()
    moving.hold()
    _, asked = in_thread(detected.get)
    assert moving.entered.wait(WAIT_S)  # asking the old node
    moving.client = new_client  # the node changes ...
    detected.forget()  # ... and a refused command says so
    moving.release.set()
    assert asked.wait(WAIT_S)
    assert detected.get().delifeq  # the in-flight (old) answer was not kept
