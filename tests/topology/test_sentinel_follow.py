"""Sentinel failovers under writing threads: which acknowledged writes are lost.

Each destructive test starts its own deployment (about 2 s) and throws it away, so no
later test depends on how it ended. A write is *lost* when it was acknowledged and the
new primary does not hold its key once the writers stop. What the store promises:

- forced failover (SENTINEL FAILOVER): no write started after the leader announced the
  promotion (``+failover-state-wait-promotion``) is lost: the store holds writes from then
  until ``+switch-master`` and then drops the old primary. What is lost was in flight or
  not yet replicated at the promotion (``scripts/sentinel_lost_writes.py`` counts it);
- killed primary: only writes acknowledged before the kill (and not yet replicated) are
  lost, and with ``wait_replicas=1`` none are;
- a sentinel killed during the switch is left behind; the leader killed mid-failover (the
  switch never comes) ends the hold after ``HOLD_LIMIT_S`` and loses nothing.
"""

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from support.sentinel_writes import SwitchWatch, Writers
from support.topology import SentinelDeployment, wait_for

from hug_store_redis import RedisStore
from hug_store_redis.topology import sentinel_follow

pytestmark = pytest.mark.one_twin


@pytest.fixture
def deployment() -> Iterator[SentinelDeployment]:
    """A deployment of its own: these tests leave it failed over, killed or half-dead."""
    workdir = Path(tempfile.mkdtemp(prefix="hug-store-redis-follow-"))
    fresh = None
    try:
        fresh = SentinelDeployment(workdir)
        yield fresh
    finally:
        if fresh is not None:
            fresh.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _client(deployment: SentinelDeployment) -> redis.Redis:
    return deployment.master_for(socket_timeout=2, socket_connect_timeout=1)


def _switch_applied(client: redis.Redis) -> sentinel_follow.Switch:
    follower = sentinel_follow.follower_of(client)
    assert follower is not None, "the store does not follow its master"
    return wait_for("the store's listener to apply the switch", lambda: list(follower.switches))[0]


def _run_through(deployment: SentinelDeployment, client: redis.Redis, store: RedisStore, fault) -> dict:
    """Write from 4 threads, cause ``fault``, keep writing until every live sentinel has
    announced the switch and 1 s more, then count the acknowledged writes the new primary lacks."""
    old_port = deployment.current_primary_port()
    new = next(node for node in deployment.data_nodes if node.port != old_port)
    watch = SwitchWatch([node.client for node in deployment.sentinels])
    writers = Writers(store).start()
    try:
        wait_for("the first writes", lambda: len(writers.acked) > 100)
        began = time.monotonic()
        killed = fault()
        live = [i for i, node in enumerate(deployment.sentinels) if node.process.poll() is None]
        wait_for("every live sentinel to announce the switch", lambda: set(live) <= set(watch.announced))
        time.sleep(1.0)
    finally:
        writers.stop()
        watch.stop()
    lost = writers.missing_from(new.client)
    announced = max(watch.announced[i] for i in live)
    return {
        "began": began,
        "killed": killed,
        "lost": lost,
        "writers": writers,
        "new": new,
        "old_port": old_port,
        "all_announced": announced,
        "promoting": dict(watch.promoting),
    }


def _report(record_property, name: str, run: dict, switch: sentinel_follow.Switch | None) -> None:
    lost, began = run["lost"], run["began"]
    figures = {
        "acknowledged": len(run["writers"].acked),
        "lost": len(lost),
        "errors": len(run["writers"].errors),
    }
    if lost:
        figures["lost_acked_from_s"] = round(min(w.acked for w in lost) - began, 3)
        figures["lost_acked_to_s"] = round(max(w.acked for w in lost) - began, 3)
    if switch is not None:
        figures["event_received_s"] = round(switch.received_at - began, 3)
        figures["event_applied_s"] = round(switch.applied_at - began, 3)
        if switch.held_from is not None:
            figures["writes_held_from_s"] = round(switch.held_from - began, 3)
        figures["lost_acked_after_event_received"] = sum(w.acked > switch.received_at for w in lost)
        figures["lost_started_after_event_received"] = sum(w.started > switch.received_at for w in lost)
        if lost:
            figures["last_lost_started_s"] = round(max(w.started for w in lost) - began, 4)
    for key, value in figures.items():
        record_property(f"{name}_{key}", value)
    print(f"\n{name}: {figures}")


def test_forced_failover_loses_no_write_started_after_the_promotion(deployment, record_property):
    client = _client(deployment)
    store = RedisStore(client, namespace="s")

    def force() -> None:
        deployment.sentinels[0].client.execute_command("SENTINEL FAILOVER", "mymaster")

    run = _run_through(deployment, client, store, force)
    follower = sentinel_follow.follower_of(client)
    switch = follower.switches[0] if follower is not None and follower.switches else None
    _report(record_property, "forced_failover", run, switch)
    # Nothing written once the leader had announced the promotion is lost: the store holds
    # writes from then until the switch (from when it heard it, if later than the test did).
    promotion = min(run["promoting"].values())
    held_from = switch.held_from if switch is not None and switch.held_from is not None else 0.0
    assert [w for w in run["lost"] if w.started > max(promotion, held_from)] == []
    assert switch is not None and switch.new == ("127.0.0.1", run["new"].port)
    assert sum(w.started > switch.applied_at for w in run["writers"].acked) > 0, "nothing written after"


def _kill_primary(deployment: SentinelDeployment):
    def kill() -> float:
        primary = next(n for n in deployment.data_nodes if n.port == deployment.current_primary_port())
        primary.process.send_signal(signal.SIGKILL)
        primary.process.wait()  # the signal is delivered asynchronously: dead only from here on
        return time.monotonic()

    return kill


def test_killed_primary_loses_only_writes_acknowledged_before_the_kill(deployment, record_property):
    client = _client(deployment)
    store = RedisStore(client, namespace="s")
    run = _run_through(deployment, client, store, _kill_primary(deployment))
    switch = _switch_applied(client)
    _report(record_property, "killed_primary", run, switch)
    assert [w for w in run["lost"] if w.acked > run["killed"]] == []
    assert switch.new == ("127.0.0.1", run["new"].port)


def test_killed_primary_with_wait_replicas_loses_nothing(deployment, record_property):
    client = _client(deployment)
    store = RedisStore(client, namespace="s", wait_replicas=1, wait_timeout_ms=500)
    run = _run_through(deployment, client, store, _kill_primary(deployment))
    _report(record_property, "killed_primary_wait1", run, _switch_applied(client))
    assert run["lost"] == []
    assert len(run["writers"].acked) > 100


def test_a_sentinel_killed_during_the_switch_is_left_behind(deployment, record_property):
    client = _client(deployment)
    store = RedisStore(client, namespace="s")
    follower = sentinel_follow.follower_of(client)
    assert follower is not None
    wait_for("the listener to hear every sentinel", lambda: len(follower.listening) == 3)
    leader, doomed = deployment.sentinels[0], deployment.sentinels[1]

    def failover_and_kill_a_sentinel() -> float:
        leader.client.execute_command("SENTINEL FAILOVER", "mymaster")
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
        return time.monotonic()

    run = _run_through(deployment, client, store, failover_and_kill_a_sentinel)
    switch = _switch_applied(client)
    _report(record_property, "sentinel_killed", run, switch)
    assert switch.new == ("127.0.0.1", run["new"].port)
    assert ("127.0.0.1", doomed.port) not in follower.listening
    assert switch.held_from is not None
    assert [w for w in run["lost"] if w.started > max(min(run["promoting"].values()), switch.held_from)] == []


def test_leader_killed_mid_failover_loses_nothing(deployment, record_property):
    """The leader dies after promoting the replica, before announcing the switch: the other
    sentinels keep the old primary, so the held writes go on there once the hold expires."""
    client = _client(deployment)
    store = RedisStore(client, namespace="s")
    follower = sentinel_follow.follower_of(client)
    assert follower is not None
    wait_for("the listener to hear every sentinel", lambda: len(follower.listening) == 3)
    old_port = deployment.current_primary_port()
    old = next(node for node in deployment.data_nodes if node.port == old_port)
    leader = deployment.sentinels[0]
    writers = Writers(store).start()
    try:
        wait_for("the first writes", lambda: len(writers.acked) > 100)
        began = time.monotonic()
        leader.client.execute_command("SENTINEL FAILOVER", "mymaster")
        wait_for("the store to hold writes", lambda: not follower.writes_flow.is_set(), timeout=10)
        leader.process.send_signal(signal.SIGKILL)
        leader.process.wait()
        held, released = wait_for("the hold to expire", lambda: list(follower.holds), timeout=10)[0]
        time.sleep(1.0)
    finally:
        writers.stop()
    lost = writers.missing_from(old.client)
    figures = {
        "acknowledged": len(writers.acked),
        "lost": len(lost),
        "held_s": round(released - held, 2),
        "acknowledged_while_held": sum(held < w.acked < released for w in writers.acked),
        "started_while_held": sum(held < w.started < released for w in writers.acked),
        "since_failover_s": round(time.monotonic() - began, 2),
    }
    print(f"\nleader_killed: {figures}")
    for key, value in figures.items():
        record_property(f"leader_killed_{key}", value)
    survivor = deployment.sentinels[1].client
    assert int(survivor.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", "mymaster")[1]) == old_port
    assert list(follower.switches) == []
    assert lost == []
    assert sum(w.started > released for w in writers.acked) > 0
    assert follower.writes_flow.is_set()


def test_stores_on_one_master_share_one_listener(redis_sentinel, sentinel_master):
    other_client = redis_sentinel.master_for()
    stores = [RedisStore(sentinel_master, namespace=f"n{i}") for i in range(3)]
    stores.append(RedisStore(other_client, namespace="other"))
    followers = {id(sentinel_follow.follower_of(c)) for c in (sentinel_master, other_client)}
    assert len(followers) == 1
    threads = [t for t in threading.enumerate() if "sentinel follower (mymaster)" in t.name]
    assert len(threads) >= 1
    assert all(s.uses_fast_path is False for s in stores)
    other_client.close()


def test_a_write_that_meets_a_demoted_primary_is_retried_once(redis_sentinel, sentinel_master):
    """READONLY between switch events (the listener missed one): one retry, then the error."""
    following = sentinel_follow.follow(sentinel_master)  # what RedisStore(sentinel_master) holds
    assert following is not None
    replica = next(n for n in redis_sentinel.data_nodes if n.port != redis_sentinel.current_primary_port())
    targets = iter([replica.client, sentinel_master])  # the demoted server first, then the primary
    following.call(lambda: next(targets).set("ro:k", "v"))
    assert sentinel_master.get("ro:k") == b"v"
    attempts = []

    def always_readonly() -> None:
        attempts.append(1)
        replica.client.set("ro:k", "w")

    with pytest.raises(redis.ReadOnlyError):
        following.call(always_readonly)
    assert len(attempts) == 2
    assert sentinel_master.get("ro:k") == b"v"


def test_plain_clients_are_not_followed(redis_client):
    RedisStore(redis_client)
    assert sentinel_follow.follower_of(redis_client) is None
    assert sentinel_follow.follow(redis_client) is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_starts_its_own_listener(redis_sentinel, sentinel_master):
    store = RedisStore(sentinel_master, namespace="fork")
    store.set("before", 1)
    wait_for("the parent's listener", lambda: sentinel_follow.follower_of(sentinel_master).listening)
    pid = os.fork()
    if pid == 0:  # the child: its own listener thread, subscribed, and the store still works
        code = 1
        with contextlib.suppress(BaseException):
            follower = sentinel_follow.follower_of(sentinel_master)
            deadline = time.monotonic() + 10
            while not follower.listening and time.monotonic() < deadline:
                time.sleep(0.05)
            store.set("child", 2)
            alive = any("sentinel follower" in t.name for t in threading.enumerate())
            code = 0 if alive and follower.listening else 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.get("child") == 2


@pytest.mark.parametrize(
    "replicas, timeout_ms, error",
    [
        (-1, 10, ValueError),
        (1, 0, ValueError),
        (1.5, 10, TypeError),
        (True, 10, TypeError),
        (1, "10", TypeError),
    ],
)
def test_bad_wait_options_fail_when_the_store_is_built(redis_client, replicas, timeout_ms, error):
    with pytest.raises(error, match="wait_"):
        RedisStore(redis_client, wait_replicas=replicas, wait_timeout_ms=timeout_ms)
