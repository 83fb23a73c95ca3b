"""Two processes and a checker: does a cached reader ever return a version older than it may?

A writer process writes versions 1, 2, 3... of one key through a store without a cache and
notes when Redis acknowledged each. A reader process reads the key in a loop through a store
with ``local_cache=True`` and notes, for every read, when it began and which version it
returned. Both use ``time.monotonic_ns`` (one clock for the whole machine).

The claim checked: no read returns a version older than the newest one acknowledged more than
``bound`` before the read began. The staleness of a read is how long before it began the first
version newer than the one it returned had been acknowledged (0 when it returned the newest).
``scripts/cache_consistency.py`` runs it under faults; tests/cache/test_consistency.py runs it short,
tests/topology/test_cache_failover_consistency.py through Sentinel and Cluster failovers.
"""

import bisect
import multiprocessing
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from hug_store_redis import RedisStore
from support.topology_cluster import cluster_client
from support.topology_sentinel import SERVICE, sentinel_for

NAMESPACE = "consistency"
KEY = "probe"
# Any refusal counts as "not acknowledged" (a write) or "no answer" (a read): a failover
# brings MOVED, CLUSTERDOWN, READONLY, NotReplicatedError (a ConnectionError) and, while a
# cluster client finds no node to map the slots from, RedisClusterException (no RedisError).
RETRY_ERRORS = (redis.RedisError, RedisClusterException, OSError)


@dataclass(frozen=True)
class Target:
    """Where both processes connect (picklable, each builds its own client): one server on
    ``port``, the Sentinel service watched by ``sentinels``, or the Cluster reached through
    ``cluster_port``. ``wait_replicas`` is the writer's: acknowledged only once replicated."""

    port: int = 0
    sentinels: tuple[tuple[str, int], ...] = ()
    cluster_port: int = 0
    wait_replicas: int = 0

    def client(self) -> Any:
        if self.sentinels:
            return sentinel_for(list(self.sentinels), socket_timeout=5).master_for(SERVICE)
        if self.cluster_port:
            return cluster_client(self.cluster_port)
        retry = Retry(ExponentialBackoff(cap=0.1, base=0.01), retries=3)
        return redis.Redis(port=self.port, socket_timeout=5, retry=retry)


def write_versions(target: Target, seconds: float, interval: float, out: Connection) -> None:
    """Versions 1, 2, ... for ``seconds``; sends ``(versions, acknowledged_ns)`` of those acknowledged
    and how many writes failed (not acknowledged)."""
    store = RedisStore(target.client(), NAMESPACE, None, wait_replicas=target.wait_replicas)
    until_ns = time.monotonic_ns() + int(seconds * 1e9)
    versions, acknowledged = array("q"), array("q")
    version = failed = 0
    while time.monotonic_ns() < until_ns:
        version += 1
        try:
            store.write_payload(KEY, b"%d" % version)
        except RETRY_ERRORS:
            failed += 1
            continue  # not acknowledged: it may or may not have landed, the claim needs neither
        acknowledged.append(time.monotonic_ns())
        versions.append(version)
        if interval:
            time.sleep(interval)
    out.send((versions.tobytes(), acknowledged.tobytes(), failed))


def read_versions(
    target: Target, seconds: float, pause: float, use_cache: bool, ready: Any, out: Connection
) -> None:
    """Reads through a cached store for ``seconds`` once it serves; sends ``(began_ns, versions, stats)``.

    Without ``use_cache``, the baseline: the same reads straight from Redis.
    """
    store = RedisStore(target.client(), NAMESPACE, None, local_cache=use_cache)
    cache = store.local_cache
    while cache is not None and not cache.serving:
        store.read_payload(KEY)
        time.sleep(0.01)
    ready.set()
    until_ns = time.monotonic_ns() + int(seconds * 1e9)
    began, versions = array("q"), array("q")
    while time.monotonic_ns() < until_ns:
        start = time.monotonic_ns()
        try:
            payload = store.read_payload(KEY)
        except RETRY_ERRORS:
            continue
        began.append(start)
        versions.append(int(payload) if payload else 0)
        if pause:
            time.sleep(pause)
    out.send((began.tobytes(), versions.tobytes(), store.stats()))


@dataclass
class Verdict:
    reads: int
    writes: int
    stale_reads: int
    staleness_ms: list[float]  # of the stale reads, sorted
    violations: int  # stale by more than the bound
    bound_ms: float
    stats: dict[str, int]
    failed_writes: int = 0  # refused or unanswered: not acknowledged, so never owed to a read
    newest: int = 0  # the last version acknowledged
    stalest: str = "none"  # where the stalest read was (``stalest()``)

    @property
    def holds(self) -> bool:
        return self.violations == 0

    def percentile(self, fraction: float) -> float:
        values = self.staleness_ms
        return values[min(len(values) - 1, int(fraction * len(values)))] if values else 0.0

    def summary(self) -> str:
        worst = self.staleness_ms[-1] if self.staleness_ms else 0.0
        figures = f"p50 {self.percentile(0.5):.3f}  p99 {self.percentile(0.99):.3f}  max {worst:.3f}"
        verdict = "HOLDS" if self.holds else f"VIOLATED by {self.violations} reads"
        hits = self.stats.get("cache_hits", 0)
        return (
            f"{self.reads} reads ({hits} cache hits), {self.writes} acknowledged writes"
            f" ({self.failed_writes} failed); "
            f"stale reads {self.stale_reads}, staleness ms {figures}; "
            f"claim (nothing older than acknowledged {self.bound_ms:.0f} ms before the read began): {verdict}"
        )


def check(
    versions: list[int], acknowledged: list[int], began: list[int], read: list[int], bound_ns: int
) -> tuple[int, list[int], int]:
    """(stale reads, their staleness in ns, violations) for reads against acknowledged writes.

    ``versions``/``acknowledged`` ascend together. A read that began at ``b`` and returned
    ``v`` is stale when a version above ``v`` was acknowledged before ``b``; its staleness is
    ``b`` minus the acknowledgement of the first such version, a violation beyond ``bound_ns``.
    """
    staleness: list[int] = []
    violations = 0
    for start, version in zip(began, read, strict=True):
        first_newer = bisect.bisect_right(versions, version)  # index of the first version > read
        if first_newer == len(versions) or acknowledged[first_newer] >= start:
            continue
        late = start - acknowledged[first_newer]
        staleness.append(late)
        if late > bound_ns:
            violations += 1
    return len(staleness), staleness, violations


def run(
    target: "int | Target",
    seconds: float,
    *,
    bound_ms: float,
    fault: Callable[[float], None] | None = None,
    write_interval: float = 0.001,
    read_pause: float = 0.0001,
    use_cache: bool = True,
) -> Verdict:
    """Writer and reader on ``target`` (a port: one server) for ``seconds``; ``fault(end)`` runs
    here meanwhile (``end`` is the ``time.monotonic()`` when they stop)."""
    if isinstance(target, int):
        target = Target(port=target)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    writer_in, writer_out = context.Pipe(duplex=False)
    reader_in, reader_out = context.Pipe(duplex=False)
    reader = context.Process(
        target=read_versions, args=(target, seconds, read_pause, use_cache, ready, reader_out)
    )
    reader.start()
    if not ready.wait(30):
        reader.kill()
        raise RuntimeError("the reader's cache never served")
    writer = context.Process(target=write_versions, args=(target, seconds, write_interval, writer_out))
    writer.start()
    if fault is not None:
        fault(time.monotonic() + seconds)
    raw_versions, raw_acks, failed_writes = writer_in.recv()
    raw_began, raw_read, stats = reader_in.recv()
    writer.join()
    reader.join()
    versions, acknowledged = _ints(raw_versions), _ints(raw_acks)
    began, read = _ints(raw_began), _ints(raw_read)
    stale, staleness, violations = check(versions, acknowledged, began, read, int(bound_ms * 1e6))
    return Verdict(
        len(read),
        len(versions),
        stale,
        sorted(ns / 1e6 for ns in staleness),
        violations,
        bound_ms,
        stats,
        failed_writes,
        versions[-1] if versions else 0,
        stalest(versions, acknowledged, began, read),
    )


def stalest(versions: list[int], acknowledged: list[int], began: list[int], read: list[int]) -> str:
    """Where the stalest read was, for a report: when it began (s into the reader's run), what
    it returned, the newest version acknowledged by then and the time since the first newer one."""
    worst: tuple[int, int, int] | None = None
    for start, version in zip(began, read, strict=True):
        first_newer = bisect.bisect_right(versions, version)
        if first_newer < len(versions) and acknowledged[first_newer] < start:
            late = start - acknowledged[first_newer]
            if worst is None or late > worst[0]:
                worst = (late, start, version)
    if worst is None:
        return "none"
    late, start, version = worst
    newest = versions[bisect.bisect_left(acknowledged, start) - 1]
    return (
        f"at {(start - began[0]) / 1e9:.3f} s returned v{version}, v{newest} acknowledged by then,"
        f" v{version + 1} {late / 1e6:.1f} ms before"
    )


def _ints(raw: bytes) -> list[int]:
    values = array("q")
    values.frombytes(raw)
    return values.tolist()
