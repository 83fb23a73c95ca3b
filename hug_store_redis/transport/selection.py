"""The one place a store's transport is chosen, once, when the store is built."""

from typing import Any

from ..topology import sentinel_follow
from .base import RedisClient, Transport
from .client_transport import ClientTransport
from .fast_path import fast_path_for
from .fast_transport import FastTransport
from .replica_wait import ReplicaWait


def transport_for(
    client: RedisClient, codec: Any, expiration: int | None, *, fast_path: bool, wait: ReplicaWait | None
) -> Transport:
    """``FastTransport`` for a client ``fast_path_for`` accepts (unless ``fast_path`` is False);
    ``ClientTransport`` otherwise, following Sentinel failovers when the client is managed so."""
    fast = fast_path_for(client) if fast_path else None
    if fast is None:
        following = sentinel_follow.follow(client)
        return ClientTransport(client, codec, expiration, wait=wait, following=following)
    return FastTransport(fast, client, codec, expiration, wait=wait)
