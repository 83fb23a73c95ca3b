"""Memory: no reference or allocation leak per call, in either twin or in the store.

A compiled extension can leak one reference per call and pass every functional test;
a long-running web process then grows until it is killed. The short checks here
count references on the inputs and traced allocations over 2,000 calls of each
public call (300 rounds of the store's calls); the slow one runs a million
compiled-codec calls and watches RSS.
"""

import contextlib
import gc
import importlib
import sys
import tracemalloc

import psutil
import pytest

from hug_store_redis import CorruptSessionError, RedisStore

CALLS = 2_000
ROUNDS = 300
#: Allowed traced growth: a clean run keeps 32-64 bytes in all; one leaked object per
#: call would keep at least 2,000 x 16 bytes, per store round 300 x 16.
TRACED_SLACK = 4 * 1024
DATA = {"user": "ada", "roles": ["admin", "ops"], "n": 12345678901234567890, "ok": True, "pi": 3.25}
PAYLOAD = b'{"user": "ada", "roles": ["admin", "ops"], "n": 12345678901234567890, "ok": true}'
CORRUPT = b'{"user": "ada", "roles": ["adm'
NOT_JSON = {"when": object()}


def codec_calls(twin):
    """Every public codec call, on its good and its failing path."""
    codec = twin.Codec("memory")

    def corrupt():
        with contextlib.suppress(CorruptSessionError):
            codec.decode(CORRUPT, "key")

    def refused():
        with contextlib.suppress(TypeError):
            codec.encode(NOT_JSON)

    def invalid_utf8():
        with contextlib.suppress(CorruptSessionError):
            twin.decode_json(b"\xff\xfe", "key")

    return {
        "namespaced_key": lambda: codec.namespaced_key("session-id"),
        "encode": lambda: codec.encode(DATA),
        "decode": lambda: codec.decode(PAYLOAD, "key"),
        "decode str": lambda: codec.decode(PAYLOAD.decode(), "key"),
        "check_json": lambda: twin.check_json(DATA),
        "encode_json": lambda: twin.encode_json(DATA),
        "decode_json": lambda: twin.decode_json(PAYLOAD, "key"),
        "corrupt": corrupt,
        "refused": refused,
        "invalid utf-8": invalid_utf8,
    }


def traced_growth(call, calls: int = CALLS) -> int:
    for _ in range(1_000):
        call()
    gc.collect()
    tracemalloc.start(64)  # deep enough for every stack to reach this file's frames
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(calls):
            call()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # Only what this thread allocated under these calls: a background thread of an earlier
    # test (a Sentinel follower, a cache listener) allocates too, and is not the codec's doing.
    mine = [tracemalloc.Filter(True, __file__, all_frames=True)]
    changes = after.filter_traces(mine).compare_to(before.filter_traces(mine), "filename")
    return sum(change.size_diff for change in changes)


def test_codec_calls_keep_input_reference_counts(twin):
    inputs = [DATA, DATA["roles"], PAYLOAD, CORRUPT, NOT_JSON, "key", "session-id"]
    calls = codec_calls(twin)
    for call in calls.values():
        call()
    before = [sys.getrefcount(value) for value in inputs]
    for name, call in calls.items():
        for _ in range(1_000):
            call()
        assert [sys.getrefcount(value) for value in inputs] == before, name


@pytest.mark.parametrize(
    "name",
    [
        "namespaced_key",
        "encode",
        "decode",
        "decode str",
        "check_json",
        "encode_json",
        "decode_json",
        "corrupt",
        "refused",
        "invalid utf-8",
    ],
)
def test_codec_call_allocates_nothing_that_stays(twin, name):
    growth = traced_growth(codec_calls(twin)[name])
    assert growth < TRACED_SLACK, f"{name}: {growth} bytes kept after {CALLS} calls"


@pytest.mark.one_twin
def test_store_calls_allocate_nothing_that_stays(redis_client):
    store = RedisStore(redis_client, namespace="memory")
    redis_client.set(b"memory:corrupt", CORRUPT)

    def round_trip():
        store.set("k", DATA)
        store.get("k")
        store.exists("k")
        store.read_payload("k", touch=True)
        store.write_payload("k", store.encode(DATA))
        with contextlib.suppress(CorruptSessionError):
            store.get("corrupt")
        store.delete("k")

    growth = traced_growth(round_trip, calls=ROUNDS)
    assert growth < TRACED_SLACK, f"{growth} bytes kept after {ROUNDS} rounds of 7 store calls"


@pytest.mark.slow
@pytest.mark.one_twin
def test_a_million_compiled_codec_calls_grow_rss_less_than_2_mb(request):
    if request.config.getoption("--no-extensions"):
        pytest.skip("--no-extensions: there is no compiled twin")
    calls = list(codec_calls(importlib.import_module("hug_store_redis.codec._speedups")).values())
    process = psutil.Process()
    for _ in range(10_000):
        for call in calls:
            call()
    gc.collect()
    before = process.memory_info().rss
    rounds = 1_000_000 // len(calls)
    for _ in range(rounds):
        for call in calls:
            call()
    gc.collect()
    grown = process.memory_info().rss - before
    print(f"\nmemory: {rounds * len(calls)} compiled-codec calls, RSS grew {grown} bytes")
    assert grown < 2 * 1024 * 1024
