"""Where a client's keys live: Cluster node discovery (one module) and Sentinel following."""

from .addresses import Address, address_of
from .cluster import primary_clients, slot_map
from .sentinel_follow import Following, follow, follower_of, is_sentinel_managed

__all__ = [
    "Address",
    "Following",
    "address_of",
    "follow",
    "follower_of",
    "is_sentinel_managed",
    "primary_clients",
    "slot_map",
]
