"""``kept_bytes``, what ``max_bytes`` counts for a session the local cache keeps decoded: never
below the memory it really holds, measured with tracemalloc in both twins (what
``RedisStore.keep_decoded`` keeps: ``Codec.keep``'s tree, the reference, the pair around them),
for small and large, flat and nested, ASCII and non-ASCII sessions."""

import json
import tracemalloc

import pytest

from hug_store_redis.store.decoded_reads import kept_bytes

pytestmark = pytest.mark.one_twin
COPIES = 20  # kept side by side, so the allocator's and tracemalloc's own noise averages out


def nested(depth: int, key: str) -> dict:
    top: dict = {}
    level = top
    for _ in range(depth):
        level[key] = {}
        level = level[key]
    return top


SESSIONS = {
    "three keys": {"user": "alice", "csrf": "x" * 32, "n": 3},
    "empty": {},
    "a typical session": {
        "user": {"id": 12345, "name": "Alice Example", "roles": ["admin", "editor", "viewer"]},
        "csrf": "a" * 43,
        "cart": [{"sku": f"SKU-{i:05d}", "qty": i % 5 + 1, "price": 9.99 + i} for i in range(20)],
        "prefs": {"theme": "dark", "lang": "en", "flags": {f"f{i}": bool(i % 2) for i in range(10)}},
    },
    "2,000 string values": {f"key{i}": f"value number {i}" for i in range(2000)},
    "nested 60 deep": {"a": nested(60, "x")},
    "nested 60 deep, empty keys": {"a": nested(60, "")},
    "lists nested 60 deep": {"a": json.loads("[" * 60 + "]" * 60)},
    "3,000 empty dicts": {"a": [{} for _ in range(3000)]},
    "3,000 empty lists": {"a": [[] for _ in range(3000)]},
    "3,000 one-key dicts": {"a": [{"": 1} for _ in range(3000)]},
    "3,000 six-key dicts": {"a": [dict.fromkeys("abcdef", 1) for _ in range(500)]},
    "3,000 ints": {"a": list(range(1000, 4000))},
    "3,000 floats": {"a": [i + 0.5 for i in range(3000)]},
    "3,000 two-letter strings": {"a": [f"{i % 100:02d}" for i in range(3000)]},
    "3,000 keys": {"a": {f"{i:x}": 1 for i in range(3000)}},
    "ASCII and one emoji": {"a": "a" * 3000 + "\U0001f600"},
    "accents, escaped": {"a": "\u00e9" * 3000},
}


def held_by_kept(codec, payload: bytes) -> float:
    """The bytes one kept session holds once the request that decoded it has let go."""
    kept = []
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(COPIES):
            session = codec.decode(payload, "abc")
            reference = codec.reference(session, payload)
            kept.append((codec.keep(session, reference), reference))
            del session, reference
        return (tracemalloc.get_traced_memory()[0] - before) / COPIES
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", SESSIONS)
@pytest.mark.parametrize("twin", ["python", "cython"])
def test_kept_bytes_is_never_below_what_a_kept_session_holds(twins, twin, name):
    codec = twins[twin].Codec("ns")
    for payload in (
        json.dumps(SESSIONS[name], separators=(",", ":")).encode(),
        json.dumps(SESSIONS[name], ensure_ascii=False).encode(),  # raw UTF-8, with spaces
    ):
        assert kept_bytes(payload) >= held_by_kept(codec, payload)
        assert kept_bytes(payload.decode()) == kept_bytes(payload)


def test_the_compiled_twin_keeps_the_snapshot_its_reference_holds(twins):
    """One private tree per kept session, not two: the reference's snapshot is never changed."""
    payload = b'{"cart": [1, {"n": 2}], "user": "ann"}'
    for twin in twins.values():
        codec = twin.Codec("ns")
        session = codec.decode(payload, "abc")
        reference = codec.reference(session, payload)
        kept = codec.keep(session, reference)
        assert kept == session and kept is not session and kept["cart"] is not session["cart"]
    assert kept is reference[0]  # the compiled twin, last
