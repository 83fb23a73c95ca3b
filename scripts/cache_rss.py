"""RSS of a process that reads a million distinct sessions through one cached store.

Run it as ``.venv/bin/python scripts/cache_rss.py [--sessions 1000000] [--max-bytes-mib 16 64]``.

An embedded redis-server gets ``--sessions`` sessions (pipelined SETs, about 200 bytes each),
then one child process per configuration reads every one of them once with ``store.get``
(a real round trip each: every read is a miss) through a store whose ``LocalCache`` has
``max_entries`` far above what fits, so ``max_bytes`` is the limit that binds. A child
without a cache reads the same sessions first: the baseline. Each child reports VmRSS and
VmHWM (``/proc/self/status``) before, every 100,000 reads and after, with the cache's own
count of bytes and entries, and the largest byte count it saw after any read.

What to read from it: the cache never counts more than ``max_bytes``; RSS grows by the
cache's bytes plus a per-entry overhead that ``max_bytes`` does not count (docs/local-cache.md
says about 250 B); the RSS a process pays per MiB of ``max_bytes``.
"""

import argparse
import gc
import subprocess
import sys
import time
from pathlib import Path

import redis

from hug_store_redis import LocalCache, RedisStore
from hug_store_redis.cli.embedded import EmbeddedRedis

NAMESPACE = "rss"
MIB = 1024 * 1024
CHECKPOINT = 100_000
BATCH = 10_000
MAX_ENTRIES = 10_000_000
"""Far above what ``max_bytes`` lets in: the byte limit is the one that binds."""


def session_id(index: int) -> str:
    return f"{index:043d}"  # as long as a real id


def session(index: int) -> dict[str, object]:
    return {
        "user": f"user-{index}",
        "cart": [index % 97, index % 89, index % 83],
        "csrf": f"{index * 2654435761 % 2**64:032x}",
        "flash": "saved",
        "prefs": {"theme": "dark", "lang": "en"},
    }


def memory() -> dict[str, int]:
    """VmRSS and VmHWM in bytes."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    return values


def write_sessions(client: redis.Redis, count: int) -> int:
    """Pipelined SETs with the store's own encoding; returns the payload bytes written."""
    store = RedisStore(client, NAMESPACE)
    total = 0
    for start in range(0, count, BATCH):
        pipeline = client.pipeline(transaction=False)
        for index in range(start, min(start + BATCH, count)):
            payload = store.encode(session(index))
            total += len(payload)
            pipeline.set(store.namespaced_key(session_id(index)), payload, ex=86_400)
        pipeline.execute()
    return total


def read_all(port: int, count: int, max_bytes: int) -> None:
    """The child: every session once through one store; prints one line per checkpoint."""
    client = redis.Redis(host="127.0.0.1", port=port)
    cache = LocalCache(max_entries=MAX_ENTRIES, max_bytes=max_bytes) if max_bytes else None
    store = RedisStore(client, NAMESPACE, local_cache=False if cache is None else cache)
    deadline = time.monotonic() + 15
    while cache is not None and store.stats()["cache_hits"] == 0:  # the listener serves
        store.get(session_id(0))
        if time.monotonic() > deadline:
            raise RuntimeError("the cache did not start serving within 15 s")
    if cache is not None:
        cache.flush()
    gc.collect()
    start = memory()
    report("before", 0, start, start, cache, 0)
    largest = 0
    began = time.monotonic()
    for index in range(count):
        store.get(session_id(index))
        if cache is not None:
            largest = max(largest, cache.stats()["bytes"])
        if (index + 1) % CHECKPOINT == 0 or index + 1 == count:
            report("reads", index + 1, memory(), start, cache, largest)
    gc.collect()
    report("after", count, memory(), start, cache, largest)
    stats = store.stats()
    print(
        f"  {count} reads in {time.monotonic() - began:.0f} s; cache misses {stats['cache_misses']}, "
        f"hits {stats['cache_hits']}; sessions not found {stats['misses']}",
        flush=True,
    )
    if cache is not None and largest > max_bytes:
        raise SystemExit(f"the cache counted {largest} bytes, over max_bytes {max_bytes}")


def report(
    when: str, reads: int, now: dict[str, int], start: dict[str, int], cache: LocalCache | None, largest: int
) -> None:
    grown = now["VmRSS"] - start["VmRSS"]
    line = f"  {when:6} {reads:>9,}  VmRSS {now['VmRSS'] / MIB:7.1f} MiB (+{grown / MIB:6.1f})"
    line += f"  VmHWM {now['VmHWM'] / MIB:7.1f} MiB"
    if cache is not None:
        stats = cache.stats()
        line += f"  cache {stats['bytes'] / MIB:6.2f} MiB in {stats['entries']:,} entries"
        line += f" (largest {largest / MIB:.2f} MiB)"
        if stats["entries"]:
            beyond = (grown - stats["bytes"]) / stats["entries"]
            line += f"  RSS beyond counted bytes: {beyond:.0f} B/entry"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--max-bytes-mib", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--child-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-max-bytes", type=int, default=0, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child_port:
        read_all(arguments.child_port, arguments.sessions, arguments.child_max_bytes)
        return
    with EmbeddedRedis() as server:
        client = redis.Redis(host=server.host, port=server.port)
        began = time.monotonic()
        written = write_sessions(client, arguments.sessions)
        print(
            f"{arguments.sessions:,} sessions written in {time.monotonic() - began:.0f} s, "
            f"{written / arguments.sessions:.0f} B of payload each, keys of "
            f"{len(RedisStore(client, NAMESPACE).namespaced_key(session_id(0)))} B",
            flush=True,
        )
        for mib in (0, *arguments.max_bytes_mib):
            print("no cache (baseline)" if not mib else f"LocalCache(max_bytes={mib} MiB)", flush=True)
            command = [sys.executable, __file__, "--sessions", str(arguments.sessions)]
            command += ["--child-port", str(server.port), "--child-max-bytes", str(mib * MIB)]
            subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
