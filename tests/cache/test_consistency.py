"""The consistency checker, short: two processes, one writing versions, one reading through a cache.

The long runs under faults are ``scripts/cache_consistency.py`` (RELIABILITY.md, "Local cache").
"""

import time

import pytest
import redis
from support.cache_consistency import check, run
from support.servers import RedisServer

pytestmark = pytest.mark.one_twin
LEASE_MS = 1250.0


def test_the_checker_finds_a_read_older_than_the_bound():
    versions, acknowledged = [1, 2, 3], [100, 200, 300]
    began, read = [150, 250, 1_000, 1_000, 310], [1, 2, 1, 3, 2]
    stale, staleness, violations = check(versions, acknowledged, began, read, bound_ns=500)
    # read 3 (v1 at 1000: v2 acknowledged 800 before) breaks the bound; read 5 by 10, within it
    assert (stale, sorted(staleness), violations) == (2, [10, 800], 1)


def test_a_cached_reader_never_returns_an_old_version(tmp_path):
    server = RedisServer(tmp_path).start()
    try:
        verdict = run(server.port, 2.0, bound_ms=LEASE_MS)
        assert verdict.writes > 100 and verdict.stats["cache_hits"] > 100, verdict.summary()
        assert verdict.holds, verdict.summary()
    finally:
        server.stop()


def test_nor_when_its_invalidation_connection_is_killed(tmp_path):
    server = RedisServer(tmp_path).start()
    admin = redis.Redis(port=server.port)

    def kill_listener(end: float) -> None:
        time.sleep(0.5)
        for client in admin.client_list():
            if client["name"] == "hug_store_redis:invalidations":
                admin.client_kill_filter(_id=client["id"])

    try:
        verdict = run(server.port, 2.0, bound_ms=LEASE_MS, fault=kill_listener)
        assert verdict.stats["cache_flushes"] >= 1, verdict.summary()
        assert verdict.holds, verdict.summary()
    finally:
        admin.close()
        server.stop()
