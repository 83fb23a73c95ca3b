"""How long a local cache keeps serving after its server freezes (SIGSTOP): the heartbeat bound.

Run it as ``PYTHONPATH=tests .venv/bin/python scripts/cache_heartbeat.py``. The bound by
construction is ``heartbeat_interval + heartbeat_timeout`` (0.25 + 1.0 s by default) from
the last heartbeat sent before the freeze; this prints what the hit path saw each round.
"""

import signal
import tempfile
import time
from pathlib import Path

from support.servers import RedisServer

from hug_store_redis.cache import InvalidationListener, LocalCache


def main(rounds: int = 5) -> None:
    with tempfile.TemporaryDirectory(prefix="hug-store-redis-heartbeat-") as directory:
        server = RedisServer(Path(directory)).start()
        cache = LocalCache()
        listener = InvalidationListener(("127.0.0.1", server.port))
        listener.attach(cache, "sessions:")
        listener.start()
        try:
            for round_ in range(rounds):
                while not cache.serving:
                    time.sleep(0.01)
                time.sleep(0.1 * round_)  # freeze at different points of the heartbeat cycle
                flushes = cache.stats()["flushes"]
                frozen = time.monotonic()
                server.send(signal.SIGSTOP)
                while cache.serving:
                    time.sleep(0.001)
                stopped = time.monotonic() - frozen
                while cache.stats()["flushes"] == flushes:
                    time.sleep(0.001)
                flushed = time.monotonic() - frozen
                server.send(signal.SIGCONT)
                print(
                    f"round {round_}: hits refused after {stopped:.3f} s, cache emptied after "
                    f"{flushed:.3f} s (bound {listener.lease:.2f} s): {listener.last_error}"
                )
        finally:
            listener.close()
            server.stop()


if __name__ == "__main__":
    main()
