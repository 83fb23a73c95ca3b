"""Acknowledged writes lost to a Sentinel failover, with the store's follower off and on.

Run it as ``PYTHONPATH=tests .venv/bin/python scripts/sentinel_lost_writes.py``.

Each round starts a fresh deployment (1 primary, 1 replica, 3 sentinels on loopback), runs
4 writer threads through one ``RedisStore`` on ``master_for``, forces ``SENTINEL FAILOVER``,
keeps writing for 13 s (past the sentinels' 10 s reconfiguration of the old primary) and
counts the acknowledged keys the new primary does not hold. "off" is the store without the
follower (as before it existed); "on" is the default; "on + wait" adds ``wait_replicas=1``.
The writers write as fast as they can (tens of thousands of writes a second on loopback),
so each lost millisecond shows.
Then it times single-threaded writes with and without ``WAIT 1``.
"""

import shutil
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import redis
from support.sentinel_writes import Writers
from support.topology_base import wait_for
from support.topology_sentinel import SentinelDeployment

from hug_store_redis import RedisStore
from hug_store_redis.topology import sentinel_follow

WRITE_FOR_S = 13.0


def lost_writes(mode: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="hug-store-redis-lost-"))
    deployment = SentinelDeployment(workdir)
    try:
        with ExitStack() as stack:
            if mode == "off":
                stack.enter_context(mock.patch.object(sentinel_follow, "follow", return_value=None))
            client = deployment.master_for(socket_timeout=2, socket_connect_timeout=1)
            store = RedisStore(
                client, namespace="s", wait_replicas=1 if mode == "on + wait" else 0, wait_timeout_ms=500
            )
        old_port = deployment.current_primary_port()
        new = next(node for node in deployment.data_nodes if node.port != old_port)
        writers = Writers(store).start()
        wait_for("the first writes", lambda: len(writers.acked) > 100)
        began = time.monotonic()
        deployment.sentinels[0].client.execute_command("SENTINEL FAILOVER", "mymaster")
        time.sleep(WRITE_FOR_S)
        writers.stop()
        lost = writers.missing_from(new.client)
        line = f"{mode:9}  acknowledged {len(writers.acked):6}  lost {len(lost):6}"
        if lost:
            first, last = min(w.acked for w in lost) - began, max(w.acked for w in lost) - began
            line += f"  (acknowledged {first:.2f}-{last:.2f} s after SENTINEL FAILOVER)"
        follower = sentinel_follow.follower_of(client)
        if follower is not None and follower.switches:
            switch = follower.switches[0]
            if switch.held_from is not None:
                line += f"  writes held from {switch.held_from - began:.2f} s"
            line += f" to +switch-master, applied at {switch.applied_at - began:.2f} s"
        print(line, flush=True)
        client.close()
    finally:
        deployment.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def write_cost(writes: int = 3000) -> None:
    """Median µs per ``set`` on the Sentinel master (generic path) and on the primary directly (fast path)."""
    workdir = Path(tempfile.mkdtemp(prefix="hug-store-redis-wait-"))
    deployment = SentinelDeployment(workdir)
    try:
        primary = next(n for n in deployment.data_nodes if n.port == deployment.current_primary_port())
        clients = {
            "sentinel master_for (generic path)": deployment.master_for(),
            "plain redis.Redis (fast path)": redis.Redis(host="127.0.0.1", port=primary.port),
        }
        for name, client in clients.items():
            figures = []
            for replicas in (0, 1):
                store = RedisStore(client, namespace="cost", wait_replicas=replicas, wait_timeout_ms=1000)
                times = []
                for number in range(writes):
                    started = time.perf_counter()
                    store.set(f"k{number % 100}", {"n": number})
                    times.append(time.perf_counter() - started)
                figures.append(statistics.median(times[writes // 10 :]) * 1e6)
            print(
                f"{name:36} set: {figures[0]:6.1f} µs, with WAIT 1: {figures[1]:6.1f} µs"
                f" (+{figures[1] - figures[0]:.1f} µs, x{figures[1] / figures[0]:.2f})",
                flush=True,
            )
            client.close()
    finally:
        deployment.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    for mode in ("off", "on", "on + wait"):
        lost_writes(mode)
    write_cost()
