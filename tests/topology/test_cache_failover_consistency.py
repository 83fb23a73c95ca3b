"""The consistency checker through failovers: a cached reader and a writer on Sentinel and Cluster.

The same two processes as tests/cache/test_consistency.py, both on a Sentinel-managed client
or a RedisCluster, with one failover in the middle of the run. The verdict must hold, the
reader's cache must have been flushed by the switch, and writes must have been acknowledged
on the new primary after it (else the run proved nothing about the cache following it).
The long runs are ``scripts/cache_consistency.py --fault failovers`` (RELIABILITY.md).
"""

import contextlib

import pytest
from redis.crc import key_slot
from support.cache_consistency import KEY, NAMESPACE, Target, run

pytestmark = pytest.mark.one_twin
LEASE_MS = 1250.0
PROBE = f"{NAMESPACE}:{KEY}"


def version_in(client) -> int:
    with contextlib.closing(client):
        payload = client.get(PROBE)
    return int(payload) if payload else 0


def test_a_cached_reader_stays_within_the_bound_through_a_sentinel_failover(redis_sentinel, sentinel_master):
    target = Target(sentinels=tuple(redis_sentinel.sentinel_addresses), wait_replicas=1)
    before: list[int] = []
    old = redis_sentinel.current_primary_port()

    def failover(end: float) -> None:
        redis_sentinel.failover()
        redis_sentinel.wait_healthy()  # until the old primary replicates, WAIT 1 acknowledges nothing
        before.append(version_in(redis_sentinel.master_for(socket_timeout=5)))

    # A Sentinel failover settles in about 11 s: the old primary becomes a replica 8 s after the
    # sentinels see it still reporting itself a primary.
    verdict = run(target, 20.0, bound_ms=LEASE_MS, fault=failover)
    assert redis_sentinel.current_primary_port() != old
    assert verdict.stats["cache_hits"] > 100 and verdict.stats["cache_flushes"] >= 1, verdict.summary()
    assert verdict.newest > before[0], (before, verdict.summary())
    assert verdict.holds, verdict.summary()


def test_a_cached_reader_stays_within_the_bound_through_a_cluster_failover(redis_cluster, cluster_client):
    target = Target(cluster_port=redis_cluster.nodes[0].port)
    slot = key_slot(PROBE.encode())
    before: list[int] = []
    moved = []

    def failover(end: float) -> None:
        moved.append(redis_cluster.failover(slot))
        before.append(version_in(redis_cluster.client()))

    verdict = run(target, 6.0, bound_ms=LEASE_MS, fault=failover)
    ((old, new),) = moved
    assert redis_cluster.primary_for_slot(slot) is new and new is not old
    assert verdict.stats["cache_hits"] > 100 and verdict.stats["cache_flushes"] >= 1, verdict.summary()
    assert verdict.newest > before[0], (before, verdict.summary())
    assert verdict.holds, verdict.summary()
