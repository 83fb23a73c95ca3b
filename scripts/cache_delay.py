"""δ: how long after a write is acknowledged a cached reader on another process still sees the old value.

Run it as ``.venv/bin/python scripts/cache_delay.py [--writes 400] [--pause-us 0] [--no-cache]``.

A writer process SETs versions 1..N of one key (a pause between writes) and notes when each
SET was acknowledged. A reader process reads the key in a loop through a LocalCache kept by
an InvalidationListener (a hit serves the cached bytes, a miss reads Redis with the store's
READ_AND_TOUCH script) and notes when it first sees each version or a later one. The delay
of a write is ``first seen - acknowledged`` (0 when the reader saw it before the writer got
its acknowledgement). Both use ``time.monotonic_ns``, one clock for the whole machine.

``--pause-us`` makes the reader sleep between reads, as a request thread waiting on I/O
does; with 0 it spins on hits, which holds the GIL, so the listener thread waits for the
interpreter's switch interval (5 ms) before it can apply an invalidation.
"""

import argparse
import multiprocessing
import statistics
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

import redis

from hug_store_redis.cache import InvalidationListener, LocalCache
from hug_store_redis.cli.embedded import EmbeddedRedis
from hug_store_redis.transport import READ_AND_TOUCH

KEY = b"delay:probe"


def writer(port: int, writes: int, interval: float, ready: Event, out: Connection) -> None:
    client = redis.Redis(port=port)
    ready.wait()
    acknowledged = []
    for version in range(1, writes + 1):
        client.set(KEY, b"%d" % version)
        acknowledged.append(time.monotonic_ns())
        time.sleep(interval)
    out.send(acknowledged)


def reader(port: int, writes: int, pause: float, use_cache: bool, ready: Event, out: Connection) -> None:
    client = redis.Redis(port=port)
    cache = LocalCache()
    listener = InvalidationListener(("127.0.0.1", port))
    listener.attach(cache, b"delay:")
    listener.start()
    while not cache.serving:
        time.sleep(0.01)

    def fetch() -> tuple[bytes | None, int]:
        reply = client.eval(READ_AND_TOUCH.text, 1, KEY, 86_400_000, 0)
        return (None, 0) if reply is None else (reply[0], int(reply[1]))

    seen = [0] * (writes + 1)
    latest = 0
    ready.set()
    while latest < writes:
        payload = cache.read_through(KEY, fetch) if use_cache else fetch()[0]
        version = int(payload) if payload else 0
        if version > latest:
            now = time.monotonic_ns()
            for newer in range(latest + 1, version + 1):
                seen[newer] = now
            latest = version
        if pause:
            time.sleep(pause)
    stats = cache.stats()
    listener.close()
    out.send((seen[1:], stats))


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=400)
    parser.add_argument("--interval-ms", type=float, default=10.0, help="pause between writes")
    parser.add_argument("--pause-us", type=float, default=0.0, help="reader's sleep between reads")
    parser.add_argument("--no-cache", action="store_true", help="the baseline: every read goes to Redis")
    options = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with EmbeddedRedis() as server:
        ready = context.Event()
        writer_end, writer_out = context.Pipe(duplex=False)
        reader_end, reader_out = context.Pipe(duplex=False)
        use_cache, pause = not options.no_cache, options.pause_us / 1e6
        writer_args = (server.port, options.writes, options.interval_ms / 1000, ready, writer_out)
        reader_args = (server.port, options.writes, pause, use_cache, ready, reader_out)
        processes = [
            context.Process(target=writer, args=writer_args),
            context.Process(target=reader, args=reader_args),
        ]
        for process in processes:
            process.start()
        acknowledged = writer_end.recv()
        seen, stats = reader_end.recv()
        for process in processes:
            process.join()
    delays = sorted(max(0, first - ack) / 1e6 for first, ack in zip(seen, acknowledged, strict=True))
    early = sum(first <= ack for first, ack in zip(seen, acknowledged, strict=True))
    mode = "reads straight from Redis" if options.no_cache else "reads through the cache"
    print(f"{options.writes} writes {options.interval_ms} ms apart, {mode}, pause {options.pause_us} µs")
    p50, p99 = percentile(delays, 0.5), percentile(delays, 0.99)
    print(f"delta ms: p50 {p50:.3f}  p99 {p99:.3f}  max {delays[-1]:.3f}")
    print(f"mean {statistics.fmean(delays):.3f} ms; seen before the writer's ack: {early} of {len(delays)}")
    print(f"reader cache: {stats}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
