"""``hug-store-redis bench``: a quick table against your own Redis, and the payloads that
``benchmarks/`` shares with it."""

import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any

import ujson

from ..store import RedisStore


def small() -> dict[str, Any]:
    """About 120 bytes: a logged-in user with a CSRF token."""
    return {
        "user_id": 48213,
        "name": "alice",
        "roles": ["admin", "user"],
        "csrf": "3f9c0a1b7e2d4c5f0a1b",
        "visits": 7,
        "beta": True,
    }


def medium() -> dict[str, Any]:
    """About 2 KB, nested, non-ASCII: a shop session with a cart."""
    return {
        "user": {"id": 48213, "name": "Zoë Ångström", "locale": "sv-SE", "roles": ["buyer"]},
        "cart": [
            {
                "sku": f"SKU-{index:05d}",
                "title": f"Kaffekopp nr {index} — grå",
                "qty": index % 3 + 1,
                "price": 129.5 + index,
                "tags": ["kök", "present"],
            }
            for index in range(12)
        ],
        "history": [f"/produkter/{index}/översikt" for index in range(10)],
        "flags": {"beta": True, "newsletter": False, "consent": None},
    }


def large() -> dict[str, Any]:
    """About 60 KB: a session someone let grow (a cached result list)."""
    return {
        "results": [
            {
                "id": index,
                "title": f"Result number {index} with a longer descriptive title",
                "score": index / 7,
                "snippet": "lorem ipsum dolor sit amet " * 3,
                "seen": index % 2 == 0,
            }
            for index in range(290)
        ]
    }


PAYLOADS = {"small": small, "medium": medium, "large": large}


OPERATIONS = ("get", "set", "exists", "delete")


def store_operations(store: Any, key: str, data: Any) -> dict[str, Callable[[], Any]]:
    """One call per operation on a store (ours, or anything with hug's store API)."""
    return {
        "get": lambda: store.get(key),
        "set": lambda: store.set(key, data),
        "exists": lambda: store.exists(key),
        "delete": lambda: store.delete(key),
    }


def raw_operations(client: Any, full_key: str, data: Any, expiration: int) -> dict[str, Callable[[], Any]]:
    """The same operations as the raw client plus ujson: what a hand-written store would do."""
    return {
        "get": lambda: ujson.loads(client.get(full_key)),
        "set": lambda: client.set(full_key, ujson.dumps(data), ex=expiration),
        "exists": lambda: client.exists(full_key),
        "delete": lambda: client.delete(full_key),
    }


def time_per_call(function: Callable[[], Any], seconds: float) -> float:
    """Median microseconds per call over five slices of ``seconds``."""
    function()
    slices = []
    for _ in range(5):
        calls = 0
        start = time.perf_counter()
        deadline = start + seconds / 5
        while True:
            for _ in range(20):
                function()
            calls += 20
            now = time.perf_counter()
            if now >= deadline:
                break
        slices.append((now - start) / calls * 1e6)
    return statistics.median(slices)


def run(
    client: Any, size: str, seconds: float, report: Callable[[str], None]
) -> list[tuple[str, dict[str, float]]]:
    """Time each operation on the store, the store's generic path and the raw client.

    Only keys under a random ``hug-store-redis-bench`` namespace are touched, and they are
    deleted at the end, so this is safe to point at a shared server.
    """
    data = PAYLOADS[size]()
    namespace = f"hug-store-redis-bench:{secrets.token_hex(4)}"
    stores = {
        "store": RedisStore(client, namespace=namespace, expiration=60),
        "generic": RedisStore(client, namespace=namespace, expiration=60, fast_path=False),
    }
    raw_key = f"{namespace}:redis-py"
    variants = {name: store_operations(store, name, data) for name, store in stores.items()}
    variants["redis-py"] = raw_operations(client, raw_key, data, 60)
    budget = seconds / (len(OPERATIONS) * len(variants))
    rows = []
    try:
        for operation in OPERATIONS:
            timings = {}
            for name, operations in variants.items():
                operations["set"]()  # get and exists find a value; delete finds it once
                timings[name] = time_per_call(operations[operation], budget)
                report(f"{operation:<7} {name:<9} {timings[name]:8.1f} µs/op")
            rows.append((operation, timings))
    finally:
        client.delete(raw_key, *(f"{namespace}:{name}" for name in stores))
    return rows


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = [
        f"{'operation':<10}{'store':>10}{'generic':>10}{'redis-py':>10}{'store/redis-py':>16}",
    ]
    for operation, timings in rows:
        lines.append(
            f"{operation:<10}{timings['store']:>10.1f}{timings['generic']:>10.1f}{timings['redis-py']:>10.1f}"
            f"{timings['store'] / timings['redis-py']:>16.2f}"
        )
    lines.append("(µs per operation, medians; lower is faster)")
    return "\n".join(lines)
