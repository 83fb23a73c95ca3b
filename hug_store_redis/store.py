"""RedisStore: hug's store API (get/set/exists/delete) on one Redis namespace."""

import datetime
from typing import Any, Protocol

from hug.exceptions import StoreKeyNotFound

from . import _codec


class RedisClient(Protocol):
    """What the store needs from a client: redis-py's single-key commands.

    Typed structurally, never checked by class, so RedisCluster, Sentinel masters and
    look-alikes all fit.
    """

    def get(self, name: Any) -> Any: ...
    def set(self, name: Any, value: Any, ex: Any = None) -> Any: ...
    def exists(self, *names: Any) -> Any: ...
    def delete(self, *names: Any) -> Any: ...


def expiration_seconds(expiration: "int | float | datetime.timedelta | None") -> int | None:
    """Whole, positive seconds, or None for keys that never expire.

    Redis rounds nothing for us: ``EX 0`` is an error and ``EX 1.5`` is refused, so a
    bad value fails here, at start-up, rather than on the first request.
    """
    if expiration is None:
        return None
    if isinstance(expiration, datetime.timedelta):
        seconds: float = expiration.total_seconds()
    elif isinstance(expiration, bool) or not isinstance(expiration, (int, float)):
        raise TypeError(
            f"expiration must be whole seconds (int), a timedelta or None, not {type(expiration).__name__}"
        )
    else:
        seconds = expiration
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds != int(seconds):
        raise ValueError(f"expiration must be a whole number of seconds, got {expiration!r}")
    if seconds <= 0:
        raise ValueError(f"expiration must be positive (or None for no expiry), got {expiration!r}")
    return int(seconds)


class RedisStore:
    """Session data as JSON in plain Redis strings at ``namespace:key``.

    Defaults, keys and bytes are those of hug_store_redis 1.0.0, so an upgrade keeps
    every live session. Every ``set`` resets the expiry.
    """

    def __init__(
        self,
        connection: RedisClient,
        namespace: str = "store",
        expiration: "int | float | datetime.timedelta | None" = 86400,
    ) -> None:
        self._codec = _codec.Codec(namespace)
        self.connection = connection
        self.namespace = namespace
        self.expiration = expiration_seconds(expiration)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self.namespace!r}, expiration={self.expiration!r})"

    def get(self, key: str) -> Any:
        """The data stored under ``key``; ``StoreKeyNotFound`` when there is none."""
        payload = self.connection.get(self._codec.namespaced_key(key))
        if payload is None:
            raise StoreKeyNotFound(key)
        return self._codec.decode(payload, key)

    def set(self, key: str, data: Any) -> None:
        """Store ``data`` and restart its expiry. Bad data raises before Redis is touched."""
        full_key = self._codec.namespaced_key(key)
        payload = self._codec.encode(data)
        self.connection.set(full_key, payload, ex=self.expiration)

    def exists(self, key: str) -> bool:
        return bool(self.connection.exists(self._codec.namespaced_key(key)))

    def delete(self, key: str) -> bool:
        """True when a key was deleted, False when there was none."""
        return bool(self.connection.delete(self._codec.namespaced_key(key)) == 1)
