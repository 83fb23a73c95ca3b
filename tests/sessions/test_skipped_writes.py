"""Skipped writes are counted without a lock: the counts stay exact when threads overlap."""

import sys
import threading

import pytest
from support.session_app import call, issued_id, make_api

from hug_store_redis.sessions import RedisSessionMiddleware
from hug_store_redis.store import StoreStats

THREADS = 8


@pytest.fixture
def switch_often():
    """Make the interpreter switch threads as often as it can, so increments interleave."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def run_together(work):
    barrier = threading.Barrier(THREADS)
    errors = []

    def start(worker):
        barrier.wait()
        try:
            work(worker)
        except BaseException as error:  # re-raised below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=start, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.one_twin
def test_tallies_stay_exact_while_threads_count_and_read_them(switch_often):
    stats = StoreStats()
    rounds = 20_000
    seen = []

    def work(worker):
        for index in range(rounds):
            stats.count("skipped_writes")
            if worker == 0 and index % 1000 == 0:
                seen.append(stats.snapshot()["skipped_writes"])  # readers take values too

    run_together(work)
    assert stats.snapshot()["skipped_writes"] == THREADS * rounds
    assert stats.snapshot()["skipped_writes"] == THREADS * rounds  # reading changes nothing
    assert seen == sorted(seen) and all(0 <= value <= THREADS * rounds for value in seen)


def test_read_only_requests_in_threads_are_all_counted(store, switch_often):
    api = make_api(RedisSessionMiddleware(store), handlers=("read", "write"))
    sids = [issued_id(call(api, "/write")) for _ in range(THREADS)]
    rounds = 50

    def work(worker):
        for _ in range(rounds):
            assert call(api, "/read", sids[worker]).data == {"counter": 1}

    run_together(work)
    stats = store.stats()
    assert stats["skipped_writes"] == THREADS * rounds
    assert stats["writes"] == THREADS
