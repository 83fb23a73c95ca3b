"""Exceptions raised by this package, beyond hug's own ``StoreKeyNotFound``."""

from redis.exceptions import RedisError


class CorruptSessionError(ValueError):
    """A value in Redis that is not UTF-8 JSON.

    A ``ValueError`` so that callers who already guard JSON decoding keep working,
    and a type of its own so the middleware can tell "bad data" from "bad code".
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"session {_short(key)} holds data that is not UTF-8 JSON: {reason}")
        self.key = key
        self.reason = reason

    def __reduce__(self) -> tuple[type["CorruptSessionError"], tuple[str, str]]:
        return (type(self), (self.key, self.reason))


def _short(key: str, limit: int = 80) -> str:
    """Cookie values can be kilobytes of junk; an error message should not be."""
    text = repr(key)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CompareAndSetUnavailableError(RedisError):
    """The server refuses scripts and the client cannot WATCH either.

    A RedisCluster from a redis-py release without cluster transactions is such a client.

    A ``RedisError``, so it is counted and handled like the server's own refusals.
    """

    def __init__(self, server: str) -> None:
        super().__init__(
            f"compare_and_set needs Lua scripts (EVAL/EVALSHA) or WATCH/MULTI, and {server} "
            "refuses scripts while this client cannot WATCH: enable EVAL/EVALSHA for this server"
        )
        self.server = server
