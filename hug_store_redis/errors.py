"""Exceptions raised by this package, beyond hug's own ``StoreKeyNotFound``."""

import redis
from redis.exceptions import RedisError


class CorruptSessionError(ValueError):
    """A value in Redis that is not UTF-8 JSON.

    A ``ValueError`` so that callers who already guard JSON decoding keep working,
    and a type of its own so the middleware can tell "bad data" from "bad code".
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"session {short_id(key)} holds data that is not UTF-8 JSON: {reason}")
        self.key = key
        self.reason = reason

    def __reduce__(self) -> tuple[type["CorruptSessionError"], tuple[str, str]]:
        return (type(self), (self.key, self.reason))


class NotReplicatedError(redis.ConnectionError):
    """A write the primary took but fewer replicas than ``wait_replicas`` confirmed in time.

    A ``redis.ConnectionError`` because, to the caller, it is the same as a write that never
    reached Redis: it may not survive a failover, so it is not acknowledged. The middleware's
    ``on_error="degrade"`` treats it as an unreachable store (logged, the session not saved).
    """

    def __init__(self, key: str, acknowledged: int, wanted: int, timeout_ms: int) -> None:
        super().__init__(
            f"session {short_id(key)}: {acknowledged} of {wanted} replicas confirmed the write"
            f" within {timeout_ms} ms (WAIT); it may be lost if the primary fails"
        )
        self.key = key
        self.acknowledged = acknowledged
        self.wanted = wanted
        self.timeout_ms = timeout_ms

    def __reduce__(self) -> tuple[type["NotReplicatedError"], tuple[str, int, int, int]]:
        return (type(self), (self.key, self.acknowledged, self.wanted, self.timeout_ms))


SHOWN_ID_CHARACTERS = 8


def short_id(session_id: str) -> str:
    """At most the first 8 characters of a session id (or of a key holding one), for messages.

    The id is a credential: 8 characters correlate log lines without letting a log reader
    hijack the session. Characters that are not printable are escaped, so junk from a
    cookie cannot forge log lines.
    """
    head = session_id[:SHOWN_ID_CHARACTERS]
    if not head.isprintable():
        head = repr(head)[1:-1]
    return head + "..." if len(session_id) > SHOWN_ID_CHARACTERS else head


class InvalidURLError(ValueError):
    """A URL this package cannot turn into a client (``from_url``); the message shows it masked."""


class ServerUnreachableError(redis.ConnectionError):
    """No server answered at a URL (``from_url`` on a cluster); the message shows it masked."""


class UnsupportedClientError(RuntimeError):
    """A Sentinel-managed client from a redis-py or valkey-py release the failover follower was
    not tested on: it relies on private parts of the pool (``topology/client_internals.py``), so
    it refuses to start rather than stop cutting writes to a demoted primary unnoticed."""

    def __init__(self, found: str, supported: str) -> None:
        super().__init__(
            f"hug_store_redis follows Sentinel failovers on {supported} only, and {found}:"
            " install a release in that range"
        )
        self.found = found
        self.supported = supported

    def __reduce__(self) -> tuple[type["UnsupportedClientError"], tuple[str, str]]:
        return (type(self), (self.found, self.supported))


class CompareAndSetUnavailableError(RedisError):
    """The server refuses scripts and the WATCH/MULTI fallback cannot serve either.

    A RedisCluster from a redis-py release without cluster transactions is such a client,
    and so is a store with ``wait_replicas``.

    A ``RedisError``, so it is counted and handled like the server's own refusals.
    """

    def __init__(self, server: str, *, waiting: bool = False) -> None:
        why = (
            "with wait_replicas, which cannot follow a WATCH/MULTI write on its connection"
            if waiting
            else "while this client cannot WATCH"
        )
        super().__init__(
            f"compare_and_set needs Lua scripts (EVAL/EVALSHA) or WATCH/MULTI, and {server} "
            f"refuses scripts {why}: enable EVAL/EVALSHA for this server"
        )
        self.server = server
