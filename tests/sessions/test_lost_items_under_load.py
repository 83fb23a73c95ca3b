"""Threads adding items to a few shared sessions through waitress: not one item is lost.

Before compare-and-set writes (and with hug's stock SessionMiddleware, last writer wins)
the same load loses a large share of the items: scripts/session_lost_items.py counts them.
"""

import pytest
from support.session_load import add_items, adding_api, items_found, session_ids

from hug_store_redis.sessions import RedisSessionMiddleware


def run(store, serve, threads, requests_per_thread):
    ids = session_ids(store)
    base = serve(adding_api(RedisSessionMiddleware(store, cookie_secure=False)), threads)
    add_items(base, ids, threads, requests_per_thread)
    assert items_found(store, ids) == threads * requests_per_thread


def test_four_threads_lose_no_item(store, serve):
    run(store, serve, threads=4, requests_per_thread=200)


@pytest.mark.slow
@pytest.mark.one_twin  # about 45 s a run: the codec twin changes nothing here
def test_eight_threads_times_two_thousand_requests_lose_no_item(store, serve):
    run(store, serve, threads=8, requests_per_thread=2000)
