"""Memory a LocalCache entry costs beyond its key and payload bytes (what max_bytes counts).

Run it as ``.venv/bin/python scripts/cache_memory.py``: tracemalloc over 10,000 entries.
"""

import tracemalloc
from time import monotonic

from hug_store_redis.cache import LocalCache

ENTRIES = 10_000


def main() -> None:
    for payload_size in (100, 1000):
        keys = [b"sessions:%043d" % index for index in range(ENTRIES)]  # the length of a real id
        payloads = [bytes([index % 256]) * payload_size for index in range(ENTRIES)]
        cache = LocalCache(max_entries=ENTRIES)
        source = object()
        cache.attach(source)
        cache.grant(source, monotonic() + 3600)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for key, payload in zip(keys, payloads, strict=True):
            cache.finish_read(cache.begin_read(key), payload, 3_600_000)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        counted = cache.stats()["bytes"]
        # Keys and payloads were allocated before (a real read allocates both): add their objects.
        objects = sum(map(bytes.__sizeof__, keys)) + sum(map(bytes.__sizeof__, payloads))
        total = after - before + objects
        print(
            f"payload {payload_size} B, key {len(keys[0])} B: {total / ENTRIES:.0f} B per entry in all, "
            f"{(after - before) / ENTRIES:.0f} B of it the cache's own structures; "
            f"{(total - counted) / ENTRIES:.0f} B beyond what max_bytes counts"
        )


if __name__ == "__main__":
    main()
