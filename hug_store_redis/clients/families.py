"""The client libraries the store serves: redis-py, and valkey-py (its fork) when installed.

``connect.py`` checks a URL's query and keyword arguments against the classes of the
library that will read them, so each family lists its own: the client, cluster and pool
classes, the connection class per kind of socket, and the query parameters it casts.

The exception tuples below are what every layer catches. valkey-py's exceptions are classes
of their own (a ``valkey.exceptions.ConnectionError`` is no ``redis.exceptions.RedisError``),
so a handler written against redis-py alone would let a valkey-py client's errors past
uncounted, and the middleware's degrade mode would not notice its server going away.
Each is a tuple for ``except``; valkey-py's class joins when it is installed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
import redis.cluster
import redis.connection
import redis.exceptions

_valkey: Any
try:
    import valkey.exceptions as _valkey
except ModuleNotFoundError:  # valkey-py is optional
    _valkey = None


@dataclass(frozen=True, eq=False)  # hashed by identity: one instance per library
class ClientFamily:
    package: str  # the name to pip install
    client: Any
    cluster: Any
    pool: type
    #: By kind of socket: "tcp", "tls", "unix".
    connections: Mapping[str, type]
    query_parsers: Mapping[str, Any]  # name -> the cast redis-py applies (or None)
    #: What the cluster class passes on to its nodes (it drops the rest silently), less the
    #: keywords it refuses.
    cluster_passes_on: frozenset[str]
    #: What the library raises when no server answers, a cluster's included.
    unreachable: tuple[type[Exception], ...]


REDIS = ClientFamily(
    package="redis",
    client=redis.Redis,
    cluster=redis.cluster.RedisCluster,
    pool=redis.ConnectionPool,
    connections={
        "tcp": redis.connection.Connection,
        "tls": redis.connection.SSLConnection,
        "unix": redis.connection.UnixDomainSocketConnection,
    },
    query_parsers=redis.connection.URL_QUERY_ARGUMENT_PARSERS,
    cluster_passes_on=frozenset(redis.cluster.REDIS_ALLOWED_KEYS) - set(redis.cluster.KWARGS_DISABLED_KEYS),
    unreachable=(redis.ConnectionError, redis.TimeoutError, redis.exceptions.RedisClusterException),
)


def _valkey_family() -> ClientFamily | None:
    try:
        import valkey
        import valkey._parsers.url_parser
        import valkey.cluster
        import valkey.connection
    except ModuleNotFoundError:  # valkey-py is optional
        return None
    return ClientFamily(
        package="valkey",
        client=valkey.Valkey,
        cluster=valkey.cluster.ValkeyCluster,
        pool=valkey.ConnectionPool,
        connections={
            "tcp": valkey.connection.Connection,
            "tls": valkey.connection.SSLConnection,
            "unix": valkey.connection.UnixDomainSocketConnection,
        },
        query_parsers=valkey._parsers.url_parser.URL_QUERY_ARGUMENT_PARSERS,
        cluster_passes_on=(
            frozenset(valkey.cluster.VALKEY_ALLOWED_KEYS) - set(valkey.cluster.KWARGS_DISABLED_KEYS)
        ),
        unreachable=(
            valkey.ConnectionError,
            valkey.TimeoutError,
            valkey.exceptions.ValkeyClusterException,
        ),
    )


#: None when valkey-py is not installed.
VALKEY = _valkey_family()


def _with_valkey(redis_class: type[Exception], valkey_name: str) -> tuple[type[Exception], ...]:
    return (redis_class,) if _valkey is None else (redis_class, getattr(_valkey, valkey_name))


#: Anything a client raises for a failed command or round trip.
CLIENT_ERRORS = _with_valkey(redis.exceptions.RedisError, "ValkeyError")
#: An error reply from the server.
RESPONSE_ERRORS = _with_valkey(redis.exceptions.ResponseError, "ResponseError")
#: The server could not be reached, or did not answer in time.
UNREACHABLE_ERRORS = _with_valkey(redis.exceptions.ConnectionError, "ConnectionError") + _with_valkey(
    redis.exceptions.TimeoutError, "TimeoutError"
)
#: NOSCRIPT: the script is not cached on that node (restart, failover, SCRIPT FLUSH).
NO_SCRIPT_ERRORS = _with_valkey(redis.exceptions.NoScriptError, "NoScriptError")
#: NOPERM: an ACL refuses the command (or the keys).
NO_PERMISSION_ERRORS = _with_valkey(redis.exceptions.NoPermissionError, "NoPermissionError")
#: A WATCHed key changed before EXEC.
WATCH_ERRORS = _with_valkey(redis.exceptions.WatchError, "WatchError")
