"""A server's address as the listeners key and compare it: ``(host, port)``."""

from typing import Any

Address = tuple[str, int]


def address_of(client: Any) -> Address:
    """Where ``client``'s pool connects (a Sentinel's, a Cluster node's, a plain client's)."""
    kwargs = client.connection_pool.connection_kwargs
    return (str(kwargs.get("host")), int(kwargs.get("port", 0)))
