"""The local cache's consistency claim, checked over traces of two processes under faults.

Run it as ``PYTHONPATH=tests .venv/bin/python scripts/cache_consistency.py [--seconds 8]
[--fault none|kill|sigstop|restart|all] [--no-cache]``.

A writer process writes increasing versions of one key (a store without a cache, about one
per millisecond); a reader process reads it through a store with ``local_cache=True``
(100 µs between reads). The checker (tests/support/cache_consistency.py) proves from the
traces that no read returned a version older than the newest one acknowledged more than the
bound before the read began. The bound is the listener's lease (heartbeat interval +
timeout, 1.25 s): the longest the cache may serve after invalidations stop arriving.

Faults, repeated through the run: ``kill`` CLIENT KILLs the invalidation connection every
second; ``sigstop`` freezes redis-server for 2 s (SIGSTOP, then SIGCONT), twice; ``restart``
stops and restarts redis-server on the same port (AOF with fsync always, so acknowledged
writes survive), twice.
"""

import argparse
import signal
import tempfile
import time
from collections.abc import Callable

import redis
from support.cache_consistency import Verdict, run
from support.servers import RedisServer

from hug_store_redis.invalidation import InvalidationListener

LEASE_MS = 1000 * (0.25 + 1.0)


def kill_listeners(server: RedisServer) -> Callable[[float], None]:
    def fault(end: float) -> None:
        admin = redis.Redis(port=server.port)
        while time.monotonic() < end - 1:
            time.sleep(1.0)
            for client in admin.client_list():
                if client["name"] == "hug_store_redis:invalidations":
                    admin.client_kill_filter(_id=client["id"])
        admin.close()

    return fault


def freeze(server: RedisServer) -> Callable[[float], None]:
    def fault(end: float) -> None:
        assert server.process is not None
        for _ in range(2):
            time.sleep(1.0)
            server.process.send_signal(signal.SIGSTOP)
            time.sleep(2.0)
            server.process.send_signal(signal.SIGCONT)

    return fault


def restart(server: RedisServer) -> Callable[[float], None]:
    def fault(end: float) -> None:
        for _ in range(2):
            time.sleep(1.5)
            server.stop()
            server.start()

    return fault


FAULTS: dict[str, Callable[[RedisServer], Callable[[float], None]] | None] = {
    "none": None,
    "kill": kill_listeners,
    "sigstop": freeze,
    "restart": restart,
}


def scenario(name: str, seconds: float, use_cache: bool) -> Verdict:
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(directory, "--appendonly", "yes", "--appendfsync", "always").start()
        try:
            make_fault = FAULTS[name]
            fault = make_fault(server) if make_fault is not None else None
            return run(server.port, seconds, bound_ms=LEASE_MS, fault=fault, use_cache=use_cache)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--fault", choices=[*FAULTS, "all"], default="all")
    parser.add_argument("--no-cache", action="store_true", help="the baseline: every read goes to Redis")
    options = parser.parse_args()
    assert InvalidationListener(("127.0.0.1", 1)).lease * 1000 == LEASE_MS
    names = list(FAULTS) if options.fault == "all" else [options.fault]
    for name in names:
        verdict = scenario(name, options.seconds, not options.no_cache)
        print(f"{name:8} {verdict.summary()}", flush=True)
        print(f"{'':8} reader's store: {verdict.stats}", flush=True)


if __name__ == "__main__":
    main()
