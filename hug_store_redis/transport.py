"""The one seam between the store and Redis: what a transport does, and the client it may wrap.

``RedisStore`` picks a transport once, in ``__init__``: ``FastTransport`` (pre-framed
commands on a plain ``redis.Redis`` pool) or ``ClientTransport`` (the client's own
methods). Each store operation is one call into it, so both transports give the same
results and raise the same exceptions by construction, and a new operation is one method
on each, never an ``if fast ... else ...`` in the store.

Contract for every method: ``key`` is the caller's key (the transport namespaces it);
replies come back raw (bytes, or str from a ``decode_responses=True`` client); Redis
errors propagate as the client raises them (``client_errors.CLIENT_ERRORS``: redis-py's
``RedisError`` or valkey-py's ``ValkeyError`` subclasses, or ``UnicodeDecodeError`` when a
decoding client meets non-UTF-8 bytes) and the store counts them. Single-key commands
and single-key scripts only, so every call is Cluster-safe.

Operations still to come land here as one method on each transport: a lazy-expiry read
(GET + PTTL, PEXPIRE only when due, one single-key script), a compare-and-set write (a
one-key script comparing a digest, EVALSHA with a NOSCRIPT reload), and ``write_new``
(SET NX) for new sessions. Scripts should reply integers, bulk strings or nil, never Lua
booleans: RESP2 and RESP3 turn booleans into different values.
"""

from typing import Any, Protocol


class RedisClient(Protocol):
    """What the store needs from a client: redis-py's single-key commands.

    Typed structurally, never checked by class, so RedisCluster, Sentinel masters and
    look-alikes all fit.
    """

    def get(self, name: Any) -> bytes | str | None: ...
    def set(self, name: Any, value: Any, ex: Any = None) -> Any: ...
    def exists(self, *names: Any) -> Any: ...
    def delete(self, *names: Any) -> Any: ...
    def getex(self, name: Any, ex: Any = None) -> bytes | str | None: ...
    def expire(self, name: Any, time: Any) -> Any: ...
    def ttl(self, name: Any) -> Any: ...
    def pipeline(self, transaction: bool = True) -> Any: ...


class Transport(Protocol):
    """The store's operations on one namespace; see the module docstring for the contract."""

    def read(self, key: str) -> bytes | str | None:
        """The value under ``key``, or None."""

    def read_and_touch(self, key: str) -> bytes | str | None:
        """The value, and its expiry restarted in the same round trip (a plain read without expiry)."""

    def write(self, key: str, payload: bytes) -> None:
        """Store ``payload`` with the namespace's expiry."""

    def replace(self, key: str, payload: bytes, old_key: str) -> None:
        """Write ``key`` and delete ``old_key`` in one round trip, without MULTI."""

    def delete(self, key: str) -> bool:
        """True when a key was deleted."""

    def exists(self, key: str) -> bool: ...


def is_unknown_command(error: Exception) -> bool:
    """True for a server too old for the command (GETEX before Redis 6.2)."""
    return "unknown command" in str(error).lower()
