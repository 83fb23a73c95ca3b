"""The store's conditional writes: never lose another request's update, never recreate a
key that logout or rotation deleted (``set`` and ``write_payload`` stay last-writer-wins).

A mixin of ``RedisStore``, as ``AdminMixin`` and ``IndexWritesMixin`` are: one transport call
each, the local cache told, the counts kept. Each maps the session id once to its handle
and seals the payload (``payloads.py`` says how); a compare-and-set that finds no key under
the newest handle moves the session from an older one (``key_moves.py``).
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..codec.wire import as_bytes
from ..transport.base import Transport
from .checks import require_bytes, require_expiry
from .results import GONE, WRITTEN, WriteOutcome, WriteStatus
from .stats import COUNTED_ERRORS, StoreStats, counted_failure, counting_errors


class ConditionalWritesMixin:
    """``compare_and_set``, ``create`` and ``create_replacing``: what the session middleware writes with."""

    _transport: Transport
    _stats: StoreStats
    _cached: object | None
    hashed_keys: bool
    encrypted: bool
    _handle: Callable[[str], str]
    _older: Callable[[str], tuple[str, ...]]
    _seal: Callable[[bytes, str], bytes]

    if TYPE_CHECKING:

        def _forget(self, *keys: str) -> None: ...
        def _drop_older(self, key: str) -> None: ...
        def _move(
            self, key: str, handle: str, expected: bytes, stored: bytes, expire_s: int | None = None
        ) -> WriteOutcome: ...

    def compare_and_set(
        self, key: str, expected_payload: bytes | str, payload: bytes, *, expire_s: int | None = None
    ) -> WriteOutcome:
        """Write ``payload`` only if ``key`` still holds ``expected_payload``, the value this caller read.

        Written (expiry restarted), gone (no key: never recreated), or a conflict carrying
        the value another writer left, to merge into without another read. An empty
        ``payload`` deletes the key if it is unchanged. A ``str`` (from a decoding client)
        is compared as its UTF-8 bytes (``codec.wire.as_bytes``). ``expire_s`` (here and on
        ``create``, ``create_replacing``): this write's expiry instead of the namespace's, for
        a session whose ``max_lifetime`` ends sooner. Under ``key_secrets``, a session found
        only under an older secret moves to the newest (``key_moves.py``).
        """
        try:  # counted as counting_errors counts, inline: every session write comes here
            require_bytes(payload)
            require_expiry(expire_s)
            if isinstance(expected_payload, str):
                expected_payload = as_bytes(expected_payload)
            require_bytes(expected_payload)
            handle = self._handle(key) if self.hashed_keys else key
            stored = self._seal(payload, key) if self.encrypted else payload
            outcome = self._compare_and_set(handle, expected_payload, stored, expire_s)
            if outcome is GONE and self._older(key):
                return self._move(key, handle, expected_payload, stored, expire_s)
            if not stored and outcome is WRITTEN:  # an interrupted move can leave an older copy:
                self._drop_older(key)  # an emptied session must not come back from it
            return outcome
        except COUNTED_ERRORS as error:
            raise counted_failure(self._stats, key, error)  # noqa: B904  # as counting_errors raises

    def _compare_and_set(
        self, handle: str, expected: bytes, stored: bytes, expire_s: int | None = None
    ) -> WriteOutcome:
        try:  # a conflict or a gone key means any cached copy is stale too
            reply = self._transport.compare_and_set(handle, expected, stored, expire_s)
        except UnicodeDecodeError:  # a decoding client's conflict with a value that is not UTF-8:
            current = self._transport.read_bytes(handle)  # its bytes, as a bytes client gets them
            reply = 0 if current is None else current
        finally:
            if self._cached is not None:
                self._forget(handle)
        if isinstance(reply, int):
            if reply == 0:
                return GONE
            if stored:
                self._stats.write(len(stored))
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
        return self._create(self._handle(key), self._seal(payload, key), expire_s)

    def _create(self, handle: str, stored: bytes, expire_s: int | None = None) -> bool:
        try:
            created = self._transport.create(handle, stored, expire_s)
        finally:
            self._forget(handle)
        self._stats.created(created, len(stored))
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
        handle, old_handle = self._handle(key), self._handle(old_key)
        stored = self._seal(payload, key)
        try:
            created, deleted = self._transport.create_replacing(handle, stored, old_handle, expire_s)
        finally:
            self._forget(handle, old_handle)
        self._stats.created(created, len(stored))
        if deleted:
            self._stats.count("deletes")
        self._drop_older(old_key)
        return created
