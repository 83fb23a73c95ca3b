"""Fault injection: a redis-server killed (SIGKILL) or stalled (SIGSTOP) under 4 busy threads.

The promise: during the outage only redis-py's ConnectionError/TimeoutError come out
(or hug's StoreKeyNotFound, which is an answer, not a fault); no call blocks longer
than the client's timeouts allow; afterwards the same store object works again; and
no value read back is one that no writer wrote. The server here is our own process,
so killing it leaves the shared session server alone.
"""

import contextlib
import json
import random
import signal
import threading
import time
from dataclasses import dataclass, field

import pytest
import redis
from hug.exceptions import StoreKeyNotFound
from redis.backoff import ConstantBackoff
from redis.retry import Retry
from support.servers import RedisServer

from hug_store_redis import RedisStore

pytestmark = pytest.mark.one_twin  # but both store paths: the tests ask for ``store_path``

THREADS = 4
KEYS = [f"k{index}" for index in range(16)]
SOCKET_TIMEOUT = 0.5
CONNECT_TIMEOUT = 0.5
RETRIES = 1
BACKOFF = 0.05
#: The longest a call may take by configuration: every attempt may spend the connect
#: timeout and the socket timeout, with a backoff between attempts.
CALL_BUDGET = (RETRIES + 1) * (CONNECT_TIMEOUT + SOCKET_TIMEOUT) + RETRIES * BACKOFF
MARGIN = 1.0  # scheduling on a shared 2-core machine, not slack in the client
ALLOWED = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def fault_client(port: int) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        retry=Retry(ConstantBackoff(BACKOFF), RETRIES),
    )


@dataclass
class Worker:
    """One thread's record: every call's outcome and how long it took."""

    number: int
    calls: int = 0
    successes: list[float] = field(default_factory=list)  # end time of each successful call
    faults: list[tuple[float, str]] = field(default_factory=list)  # start time, exception type
    unexpected: list[BaseException] = field(default_factory=list)
    strangers: list[object] = field(default_factory=list)  # values no writer wrote
    longest: float = 0.0


class Traffic:
    """4 threads of mixed store calls; writers register a value before they write it."""

    def __init__(self, store) -> None:
        self.store = store
        self.written: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.workers = [Worker(number) for number in range(THREADS)]
        self.threads = [threading.Thread(target=self.run, args=(worker,)) for worker in self.workers]

    def check_read(self, worker: Worker, value: object) -> None:
        if json.dumps(value, sort_keys=True) not in self.written:
            worker.strangers.append(value)

    def one_call(self, worker: Worker, rng: random.Random, sequence: int) -> None:
        key = rng.choice(KEYS)
        operation = rng.randrange(6)
        if operation in (0, 1):
            value = {"writer": worker.number, "n": sequence, "pad": "x" * rng.randrange(200)}
            with self.lock:
                self.written.add(json.dumps(value, sort_keys=True))
            if operation == 0:
                self.store.set(key, value)
            else:
                self.store.write_payload(key, self.store.encode(value))
        elif operation == 2:
            with contextlib.suppress(StoreKeyNotFound):
                self.check_read(worker, self.store.get(key))
        elif operation == 3:
            payload = self.store.read_payload(key, touch=True)
            if payload is not None:
                self.check_read(worker, self.store.decode(payload, key))
        elif operation == 4:
            assert isinstance(self.store.exists(key), bool)
        else:
            assert isinstance(self.store.delete(key), bool)

    def run(self, worker: Worker) -> None:
        rng = random.Random(worker.number)
        while not self.stop.is_set():
            worker.calls += 1
            started = time.monotonic()
            try:
                self.one_call(worker, rng, worker.calls)
            except ALLOWED as error:
                worker.faults.append((started, type(error).__name__))
            except BaseException as error:
                worker.unexpected.append(error)
            else:
                worker.successes.append(time.monotonic())
            worker.longest = max(worker.longest, time.monotonic() - started)

    def successes_after(self, moment: float) -> int:
        return min(sum(1 for end in worker.successes if end > moment) for worker in self.workers)

    def wait_for_successes(self, moment: float, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.successes_after(moment) < count:
            assert time.monotonic() < deadline, f"fewer than {count} successful calls per thread"
            time.sleep(0.02)


def inject(server: RedisServer, fault: str, outage: float) -> None:
    if fault == "kill":
        server.send(signal.SIGKILL)
        time.sleep(outage)
        server.start()  # same port, empty data: nothing is persisted
    else:  # stall: the server accepts connections and answers nothing, then wakes up
        server.send(signal.SIGSTOP)
        time.sleep(outage)
        server.send(signal.SIGCONT)


def run_faults(own_server: RedisServer, faults: list[str]) -> dict[str, object]:
    client = fault_client(own_server.port)
    store = RedisStore(client, namespace="faults", expiration=600)
    traffic = Traffic(store)
    for thread in traffic.threads:
        thread.start()
    try:
        traffic.wait_for_successes(0.0, 100)
        for fault in faults:
            inject(own_server, fault, outage=1.5)
            recovered = time.monotonic()
            traffic.wait_for_successes(recovered, 200)
    finally:
        traffic.stop.set()
        for thread in traffic.threads:
            thread.join(timeout=CALL_BUDGET + MARGIN + 5)
    assert not any(thread.is_alive() for thread in traffic.threads), "a call never returned"

    workers = traffic.workers
    assert [error for worker in workers for error in worker.unexpected] == []
    assert [value for worker in workers for value in worker.strangers] == []
    fault_count = sum(len(worker.faults) for worker in workers)
    assert fault_count > 0, "the outage produced no errors: the fault was not injected"
    longest = max(worker.longest for worker in workers)
    assert longest <= CALL_BUDGET + MARGIN, f"a call blocked {longest:.3f} s"

    # the very store object, not a new one, works again
    store.set("after", {"recovered": True})
    assert store.get("after") == {"recovered": True}
    assert store.delete("after") is True
    client.close()
    summary = {
        "faults": faults,
        "calls": sum(worker.calls for worker in workers),
        "errors during outages": fault_count,
        "error types": sorted({name for worker in workers for _, name in worker.faults}),
        "values written": len(traffic.written),
        "longest call s": round(longest, 3),
        "call budget s": CALL_BUDGET,
    }
    print(f"\nfault injection: {summary}")
    return summary


@pytest.mark.parametrize("fault", ["kill", "stall"])
def test_store_survives_a_fault_under_four_threads(own_server, store_path, fault):
    summary = run_faults(own_server, [fault])
    if fault == "stall":
        assert "TimeoutError" in summary["error types"]


@pytest.mark.slow
def test_store_survives_repeated_faults(own_server, store_path):
    run_faults(own_server, ["kill", "stall"] * 5)
