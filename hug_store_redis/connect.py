"""Redis clients from URLs, with errors that name the URL but never its password.

``redis://``, ``rediss://`` (TLS) and ``unix://`` give a ``redis.Redis``; the same URLs
with ``+cluster`` (``redis+cluster://``, ``rediss+cluster://``), or ``cluster=True``,
give a ``redis.cluster.RedisCluster`` that discovers the other nodes from the one named.
"""

import re
from typing import Any

import redis
from redis.cluster import RedisCluster

PLAIN_SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


class InvalidURLError(ValueError):
    """A URL this package cannot turn into a client; the message shows it masked."""


class ServerUnreachableError(redis.ConnectionError):
    """No server answered at a URL; the message shows it masked."""


_USERINFO_PASSWORD = re.compile(r"^([^:/?#]+://[^:/?#@]*:)[^/?#]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe for logs and error messages.

    Textual, not parsed and rebuilt: the rest of the URL is shown exactly as given, even
    when it is too broken to parse, and an unescaped ``@`` in the password stays hidden.
    """
    return _QUERY_PASSWORD.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1***@", url))


def client_from_url(url: str, *, cluster: bool | None = None, **client_kwargs: Any) -> Any:
    """A redis-py client for ``url``; ``cluster=True`` forces a cluster client.

    Plain clients connect lazily, so a down server shows up on the first command.
    A cluster client reads the slot map here, so an unreachable cluster fails here,
    as ``ServerUnreachableError``.
    """
    if not isinstance(url, str):
        raise InvalidURLError(f"Redis URL must be str, not {type(url).__name__}")
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or (scheme not in PLAIN_SCHEMES and scheme not in CLUSTER_SCHEMES):
        known = ", ".join(f"{name}://" for name in (*PLAIN_SCHEMES, *CLUSTER_SCHEMES))
        raise InvalidURLError(f"{mask_url(url)}: unsupported URL scheme (use {known})")
    if scheme in CLUSTER_SCHEMES:
        if cluster is False:
            raise InvalidURLError(f"{mask_url(url)}: a cluster URL with cluster=False")
        cluster = True
    elif cluster and scheme == "unix":
        raise InvalidURLError(f"{mask_url(url)}: Redis Cluster is not reachable over unix://")
    plain_url = f"{CLUSTER_SCHEMES.get(scheme, scheme)}://{rest}"
    try:
        if cluster:
            return RedisCluster.from_url(plain_url, **client_kwargs)
        return redis.Redis.from_url(plain_url, **client_kwargs)
    except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.RedisClusterException) as error:
        raise ServerUnreachableError(f"{mask_url(url)}: {error}") from error
    except (ValueError, TypeError) as error:
        raise InvalidURLError(f"{mask_url(url)}: {error}") from error


def server_info(url: str, **client_kwargs: Any) -> dict[str, str]:
    """Version and mode (standalone, cluster or sentinel) of the one server ``url`` names."""
    scheme, _, rest = url.partition("://")
    single = f"{CLUSTER_SCHEMES.get(scheme.lower(), scheme)}://{rest}" if rest else url
    options: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 5, **client_kwargs}
    client = client_from_url(single, cluster=False, **options)
    try:
        info = client.info("server")
    except (redis.ConnectionError, redis.TimeoutError) as error:
        raise ServerUnreachableError(f"{mask_url(url)}: {error}") from error
    finally:
        client.close()
    return {
        "version": str(info.get("redis_version", "unknown")),
        "mode": str(info.get("redis_mode", "standalone")),
    }
