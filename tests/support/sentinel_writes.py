"""Writer threads that log every acknowledged write, to count the ones a failover lost."""

import threading
import time
from dataclasses import dataclass, field

import redis

from hug_store_redis import RedisStore


@dataclass(frozen=True)
class Write:
    key: str
    started: float  # time.monotonic() before the call
    acked: float  # time.monotonic() after it returned


@dataclass
class Writers:
    """``threads`` threads each setting fresh keys through ``store`` until ``stop()``."""

    store: RedisStore
    threads: int = 4
    acked: list[Write] = field(default_factory=list)
    errors: list[tuple[float, BaseException]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._workers = [
            threading.Thread(target=self._write, args=(index,), daemon=True) for index in range(self.threads)
        ]

    def start(self) -> "Writers":
        for worker in self._workers:
            worker.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for worker in self._workers:
            worker.join(timeout=60)
            assert not worker.is_alive(), "a writer thread is stuck"

    def _write(self, index: int) -> None:
        number = 0
        while not self._stopping.is_set():
            number += 1
            key = f"w{index}-{number}"
            started = time.monotonic()
            try:
                self.store.set(key, number)
            except redis.RedisError as error:
                self.errors.append((time.monotonic(), error))
                time.sleep(0.01)
                continue
            self.acked.append(Write(key, started, time.monotonic()))

    def missing_from(self, client: redis.Redis) -> list[Write]:
        """Acknowledged writes whose key ``client``'s server does not hold."""
        missing: list[Write] = []
        for start in range(0, len(self.acked), 1000):
            batch = self.acked[start : start + 1000]
            pipeline = client.pipeline(transaction=False)
            for write in batch:
                pipeline.exists(self.store.namespaced_key(write.key))
            missing.extend(write for write, found in zip(batch, pipeline.execute(), strict=True) if not found)
        return missing


class SwitchWatch:
    """The test's own ear on every sentinel: when each one announced ``+switch-master``."""

    def __init__(self, sentinels: list[redis.Redis]) -> None:
        self.announced: dict[int, float] = {}
        self.promoting: dict[int, float] = {}  # +failover-state-wait-promotion (the leader's)
        self._stopping = threading.Event()
        self._pubsubs = []
        for index, client in enumerate(sentinels):
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe("+switch-master", "+failover-state-wait-promotion")
            self._pubsubs.append((index, pubsub))
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            for index, pubsub in list(self._pubsubs):
                try:
                    message = pubsub.get_message(timeout=0.01)
                except (redis.RedisError, OSError):  # a sentinel the test killed: stop asking it
                    self._pubsubs.remove((index, pubsub))
                    pubsub.close()
                    continue
                if message is not None and message["type"] == "message":
                    heard = self.announced if message["channel"] == "+switch-master" else self.promoting
                    heard.setdefault(index, time.monotonic())

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        for _, pubsub in self._pubsubs:
            pubsub.close()
