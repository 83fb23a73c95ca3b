"""The per-user index's writes (``sessions/user_sessions.py``), through the store's transport.

The index is a Redis hash outside every namespace, so these take Redis keys, not session
keys. They are writes like a session's: on the fast path framed on its own connections,
under ``wait_replicas`` acknowledged only once the replicas hold them (an index entry a
failover loses is a session "sign out everywhere" cannot reach), and counted in
``stats()["errors"]`` when they fail. The index reads through the client.

What the server can do (hash-field expiry for the index's entries) is the transport's one
detection, not a second one kept here: the transport asks it again after a failover or a
restart as another version, and the index follows without remembering anything of its own.
"""

from collections.abc import Mapping, Sequence

from ..transport.base import Transport
from ..transport.capabilities import ServerCapabilities
from .stats import StoreStats, counting_failures


class IndexWritesMixin:
    """``RedisStore``'s writes for the per-user index: one transport call each, counted."""

    _transport: Transport
    _stats: StoreStats

    @counting_failures
    def index_set(
        self,
        key: bytes,
        fields: Mapping[bytes, bytes],
        expire_s: int | None,
        expiring: Sequence[bytes] = (),
        fields_expire_s: int | None = None,
    ) -> None:
        """HSET ``fields`` on the hash at ``key``, EXPIRE it (unless ``expire_s`` is None) and
        HEXPIRE the fields ``expiring`` (unless ``fields_expire_s`` is None), in one round trip."""
        self._transport.index_set(key, fields, expire_s, expiring, fields_expire_s)

    @counting_failures
    def index_delete(self, key: bytes, fields: Sequence[bytes]) -> None:
        """HDEL ``fields`` from the hash at ``key``."""
        self._transport.index_delete(key, fields)

    @counting_failures
    def index_drop_unchanged(self, key: bytes, entries: Sequence[tuple[str, bytes | str]]) -> None:
        """Drop each ``(handle, entry as read)`` whose entry still holds what was read."""
        self._transport.index_drop_unchanged(key, entries)

    def server_capabilities(self) -> ServerCapabilities:
        """What the server can do, as the transport detected it (asked at first use, again
        after a sign the node changed); a failure to ask propagates."""
        return self._transport.capabilities()

    def known_capabilities(self) -> ServerCapabilities | None:
        """``server_capabilities`` as last detected, asking nothing (None before the first)."""
        return self._transport.capabilities_known()

    def server_changed(self) -> None:
        """A command ``server_capabilities`` promised was refused as unknown: ask again next time."""
        self._transport.capabilities_changed()
