"""The store's conditional writes: never lose another request's update, never recreate a
key that logout or rotation deleted (``set`` and ``write_payload`` stay last-writer-wins).

A mixin of ``RedisStore``, as ``AdminMixin`` and ``IndexWritesMixin`` are: one transport call
each, the local cache told, the counts kept.
"""

from typing import TYPE_CHECKING

from ..codec.wire import as_bytes
from ..transport.base import Transport
from .checks import require_bytes, require_expiry
from .results import GONE, WRITTEN, WriteOutcome, WriteStatus
from .stats import StoreStats, counting_errors


class ConditionalWritesMixin:
    """``compare_and_set``, ``create`` and ``create_replacing``: what the session middleware writes with."""

    _transport: Transport
    _stats: StoreStats

    if TYPE_CHECKING:

        def _forget(self, *keys: str) -> None: ...

    @counting_errors
    def compare_and_set(
        self, key: str, expected_payload: bytes | str, payload: bytes, *, expire_s: int | None = None
    ) -> WriteOutcome:
        """Write ``payload`` only if ``key`` still holds ``expected_payload``, the value this caller read.

        Written (expiry restarted), gone (no key: never recreated), or a conflict carrying
        the value another writer left, to merge into without another read. An empty
        ``payload`` deletes the key if it is unchanged. A ``str`` (from a decoding client)
        is compared as its UTF-8 bytes (``codec.wire.as_bytes``). ``expire_s`` (here and on
        ``create``, ``create_replacing``): this write's expiry instead of the namespace's, for
        a session whose ``max_lifetime`` ends sooner.
        """
        require_bytes(payload)
        require_expiry(expire_s)
        if isinstance(expected_payload, str):
            expected_payload = as_bytes(expected_payload)
        require_bytes(expected_payload)
        try:  # a conflict or a gone key means any cached copy is stale too
            reply = self._transport.compare_and_set(key, expected_payload, payload, expire_s)
        except UnicodeDecodeError:  # a decoding client's conflict with a value that is not UTF-8:
            current = self._transport.read_bytes(key)  # its bytes, as a bytes client gets them
            reply = 0 if current is None else current
        finally:
            self._forget(key)
        if isinstance(reply, int):
            if reply == 0:
                return GONE
            if payload:
                self._stats.write(len(payload))
            else:
                self._stats.count("deletes")
            return WRITTEN
        self._stats.count("conflicts")
        return WriteOutcome(WriteStatus.CONFLICT, reply)

    @counting_errors
    def create(self, key: str, payload: bytes, *, expire_s: int | None = None) -> bool:
        """Write a new session (SET NX with the expiry); False, writing nothing, when ``key`` exists."""
        require_bytes(payload)
        require_expiry(expire_s)
        try:
            created = self._transport.create(key, payload, expire_s)
        finally:
            self._forget(key)
        self._stats.created(created, len(payload))
        return created

    @counting_errors
    def create_replacing(
        self, key: str, payload: bytes, old_key: str, *, expire_s: int | None = None
    ) -> bool:
        """``create`` under a new id and delete ``old_key``, in one round trip (login's id rotation).

        SET NX and DEL pipelined without MULTI, so it stays Cluster-safe. ``old_key`` is
        deleted whatever SET NX found: on a collision (another session already holds
        ``key``; with 256-bit random ids, practically impossible) this returns False and
        the caller, which still holds ``payload``, creates it under another id.
        """
        require_bytes(payload)
        require_expiry(expire_s)
        try:
            created, deleted = self._transport.create_replacing(key, payload, old_key, expire_s)
        finally:
            self._forget(key, old_key)
        self._stats.created(created, len(payload))
        if deleted:
            self._stats.count("deletes")
        return created
