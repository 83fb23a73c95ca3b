"""Load: 8 threads of mixed calls on one shared store, every answer checked against a model.

Each thread owns its keys, so the exact final contents follow from the calls alone;
they share the store object, its client and its connection pool. ``make test`` runs
1,000 calls per thread, ``make test-slow`` 10,000.
"""

import json
import random
import threading

import pytest
from hug.exceptions import StoreKeyNotFound

from hug_store_redis import RedisStore

pytestmark = pytest.mark.one_twin  # but both store paths: the tests ask for ``store_path``

THREADS = 8
KEYS_PER_THREAD = 24
EXPIRATION = 3600


def mixed_calls(store, number: int, calls: int, model: dict, mismatches: list) -> None:
    """``calls`` random store calls by thread ``number``; ``model`` ends as Redis should."""
    rng = random.Random(number)
    keys = [f"t{number}:{index}" for index in range(KEYS_PER_THREAD)]

    def expect(what: str, got: object, wanted: object) -> None:
        if got != wanted:
            mismatches.append((number, what, got, wanted))

    for sequence in range(calls):
        key = rng.choice(keys)
        operation = rng.randrange(7)
        if operation in (0, 1):
            value = {"thread": number, "n": sequence, "items": list(range(rng.randrange(8)))}
            if operation == 0:
                store.set(key, value)
            else:
                store.write_payload(key, store.encode(value))
            model[key] = value
        elif operation == 2:
            try:
                expect(f"get {key}", store.get(key), model[key])
            except StoreKeyNotFound:
                expect(f"get {key}", "missing", model.get(key, "missing"))
        elif operation == 3:
            payload = store.read_payload(key, touch=rng.random() < 0.5)
            expect(f"read {key}", None if payload is None else json.loads(payload), model.get(key))
        elif operation == 4:
            expect(f"exists {key}", store.exists(key), key in model)
        elif operation == 5:
            expect(f"delete {key}", store.delete(key), model.pop(key, None) is not None)
        else:
            expect(f"encode {key}", json.loads(store.encode(model.get(key))), model.get(key))


def run_load(store, redis_client, calls_per_thread: int) -> None:
    models: list[dict] = [{} for _ in range(THREADS)]
    mismatches: list = []
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            mixed_calls(store, number, calls_per_thread, models[number], mismatches)
        except BaseException as error:  # collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert mismatches == []

    expected = {f"load:{key}".encode(): value for model in models for key, value in model.items()}
    stored = {key: json.loads(redis_client.get(key)) for key in redis_client.scan_iter(match="load:*")}
    assert stored == expected
    assert all(0 < redis_client.ttl(key) <= EXPIRATION for key in stored)
    print(f"\nload: {THREADS} threads x {calls_per_thread} calls, {len(stored)} keys at the end")


def test_eight_threads_share_one_store(redis_client, store_path):
    run_load(RedisStore(redis_client, namespace="load", expiration=EXPIRATION), redis_client, 1_000)


@pytest.mark.slow
def test_eight_threads_ten_thousand_calls_each(redis_client, store_path):
    run_load(RedisStore(redis_client, namespace="load", expiration=EXPIRATION), redis_client, 10_000)
