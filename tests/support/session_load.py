"""Many threads adding items to a few shared sessions through a real HTTP server, and the count.

Every request adds one unique item under its own top-level key to one of ``SESSIONS``
sessions (round robin), so after the run each item must be in its session exactly once:
any missing item is an update an overlapping request overwrote.
"""

import http.client
import threading
import urllib.parse
import uuid

import hug

SESSIONS = 4


def adding_api(middleware):
    api = hug.API(f"load_{uuid.uuid4().hex}")
    api.http.add_middleware(middleware)

    @hug.get("/add", api=api)
    def add(request, item: str):
        request.context["session"][item] = 1
        return "ok"

    return api


def session_ids(store):
    """``SESSIONS`` sessions, each holding one seed key, with ids either middleware accepts."""
    ids = [f"{index:043d}" for index in range(SESSIONS)]
    for sid in ids:
        store.set(sid, {"seed": 1})
    return ids


def add_items(base_url, ids, threads, requests_per_thread, cookie_name="sid", prefix=""):
    """Run the load; a request that does not answer 200 fails the run. ``prefix`` keeps the
    items of runs side by side apart."""
    address = urllib.parse.urlsplit(base_url)
    failures = []

    def client(thread):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        try:
            for index in range(requests_per_thread):
                sid = ids[(thread + index) % len(ids)]
                item = f"{prefix}t{thread}-{index}"
                connection.request("GET", f"/add?item={item}", headers={"Cookie": f"{cookie_name}={sid}"})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    failures.append((item, response.status))
        finally:
            connection.close()

    workers = [threading.Thread(target=client, args=(thread,)) for thread in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures, failures[:5]


def items_found(store, ids):
    """How many added items the sessions hold (every key but the seed)."""
    return sum(len(store.get(sid)) - 1 for sid in ids)
