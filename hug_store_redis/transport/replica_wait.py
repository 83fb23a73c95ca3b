"""``WAIT`` after each write: a write counts only once enough replicas hold it.

Sent in the same round trip as the write, on the same connection (``WAIT`` counts the
replicas that have reached *this connection's* last write), so durability costs one
replication round trip, not a second network round trip.
"""

from typing import Any

from ..errors import NotReplicatedError


class ReplicaWait:
    """``WAIT replicas timeout_ms`` as a frame for the fast path and as a pipeline call."""

    __slots__ = ("frame", "replicas", "timeout_ms")

    def __init__(self, replicas: int, timeout_ms: int) -> None:
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        args = (b"WAIT", str(replicas).encode(), str(timeout_ms).encode())
        self.frame = b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)

    def queue(self, pipeline: Any) -> None:
        pipeline.execute_command("WAIT", self.replicas, self.timeout_ms)

    def check(self, reply: Any, key: str) -> None:
        """``reply`` is WAIT's: the number of replicas that confirmed the write."""
        acknowledged = int(reply)
        if acknowledged < self.replicas:
            raise NotReplicatedError(key, acknowledged, self.replicas, self.timeout_ms)


def replica_wait(replicas: int, timeout_ms: int, client: Any = None) -> ReplicaWait | None:
    """None for ``replicas=0`` (no WAIT); bad values fail when the store is built.

    Refused on a cluster client (one with a ``nodes_manager``, redis-py's): it sends a keyless
    ``WAIT`` to every primary and sums the answers, not after the write on its connection.
    """
    for name, value in (("wait_replicas", replicas), ("wait_timeout_ms", timeout_ms)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must be 0 or more, got {value!r}")
    if replicas == 0:
        return None
    if timeout_ms == 0:
        raise ValueError("wait_timeout_ms=0 would wait forever for the replicas; give a bound in ms")
    if hasattr(client, "nodes_manager"):
        raise ValueError(
            "wait_replicas is not supported on a Redis Cluster client: its WAIT does not follow"
            " the write on the write's connection"
        )
    return ReplicaWait(replicas, timeout_ms)
