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
    # valkey-py's ValkeyCluster names it get_valkey_connection.
    node_client = getattr(connection, "get_redis_connection", None) or connection.get_valkey_connection
    return [node_client(node) for node in get_primaries()]


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
