"""Cluster node discovery, in one place: the primaries to walk, and who owns each slot.

Recognised by behaviour (``get_primaries``, ``nodes_manager``), never by class, like the rest
of the store, so redis-py's RedisCluster and valkey-py's ValkeyCluster both qualify.
"""

from typing import Any

from .addresses import Address


def primary_clients(connection: Any) -> list[Any]:
    """One client per node to scan: each primary of a cluster, or the client itself.

    SCAN on one node only sees that node's slots, so a walk of every key goes primary by primary.
    """
    get_primaries = getattr(connection, "get_primaries", None)
    if get_primaries is None:
        return [connection]
    return [node_client(connection, node) for node in get_primaries()]


def node_name(client: Any) -> str:
    """``host:port`` of the one server ``client`` talks to (a primary's client, or a lone
    server's), or its socket path: what names a node in ``primary_clients``' list."""
    options = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None) or {}
    if "path" in options:
        return f"unix:{options['path']}"
    return f"{options.get('host', '?')}:{options.get('port', 6379)}"


def key_node_name(client: Any, full_key: bytes | None) -> str | None:
    """``node_name`` of the primary serving ``full_key`` (any key: a lone server's own), or
    None where the client cannot say (a slot map being refreshed)."""
    node_for_key = getattr(client, "get_node_from_key", None)
    if node_for_key is None or full_key is None:
        return None if node_for_key is not None else node_name(client)
    try:
        return node_name(node_client(client, node_for_key(full_key)))
    except Exception:  # a stale or refreshing slot map: unknown, never an error of the caller's
        return None


def node_client(client: Any, node: Any) -> Any:
    """The client of one cluster ``node`` (valkey-py names the method get_valkey_connection)."""
    connection_of = getattr(client, "get_redis_connection", None) or client.get_valkey_connection
    return connection_of(node)


def slot_map(client: Any) -> tuple[Address, ...]:
    """The primary of every slot the client knows, in slot order (what MOVED changes).

    After a failover's MOVED, redis-py re-maps that one slot and marks the old primary a
    replica; the other slots of the shard still list it first until the next full refresh,
    so the first node marked primary is taken.
    """
    manager = client.nodes_manager
    with manager._lock:
        owners = [_primary_of(nodes) for _, nodes in sorted(manager.slots_cache.items()) if nodes]
    return tuple((str(node.host), int(node.port)) for node in owners)


def _primary_of(nodes: list[Any]) -> Any:
    return next((node for node in nodes if node.server_type == "primary"), nodes[0])
