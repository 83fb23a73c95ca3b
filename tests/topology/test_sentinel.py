"""The store through ``Sentinel(...).master_for(...)``: SENTINEL FAILOVER.

The store suite runs on the cluster and through Sentinel in test_store_topologies.py.
"""

import time

import pytest
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from support.server_kinds import server_mode
from support.topology import wait_for

from hug_store_redis import RedisStore


@pytest.mark.one_twin
def test_master_for_talks_to_the_primary(redis_sentinel, sentinel_master):
    store = RedisStore(sentinel_master, namespace="sessions")
    store.set("k", 1)
    primary = next(n for n in redis_sentinel.data_nodes if n.port == redis_sentinel.current_primary_port())
    assert primary.client.get("sessions:k") == "1"
    assert server_mode(primary.client.info("server")) == "standalone"
    assert server_mode(redis_sentinel.sentinels[0].client.info("server")) == "sentinel"


@pytest.mark.one_twin
def test_store_survives_sentinel_failover(redis_sentinel, record_property):
    """After SENTINEL FAILOVER, writes land on the new primary and the old data is there."""
    client = redis_sentinel.master_for(
        socket_timeout=2, retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=20)
    )
    store = RedisStore(client, namespace="sessions")
    data = {"user": "alice", "cart": list(range(50))}
    store.set("alice", data)
    # WAIT on the connection that wrote: the replica has the session before the switch.
    assert client.execute_command("WAIT", 1, 5000) == 1
    old_port = redis_sentinel.current_primary_port()
    started = time.monotonic()
    try:
        redis_sentinel.failover()
        new = next(n for n in redis_sentinel.data_nodes if n.port != old_port)

        attempts = iter(range(1_000_000))

        def written_to_new_primary() -> bool:
            attempt = next(attempts)
            store.set("bob", {"attempt": attempt})
            return bool(
                new.client.info("replication")["role"] == "master"
                and new.client.get("sessions:bob") == f'{{"attempt": {attempt}}}'
            )

        wait_for("store writes to reach the new primary", written_to_new_primary, timeout=30)
        record_property("sentinel_failover_resume_seconds", round(time.monotonic() - started, 2))
        assert store.get("alice") == data
        assert new.client.get("sessions:alice") is not None
    finally:
        redis_sentinel.wait_healthy()
        client.close()
