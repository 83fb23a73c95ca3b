"""A session found only under an older ``key_secrets`` secret moves to the newest on its next write.

Single-key commands only, so it stays Cluster-safe (the two keys are in different slots), in
an order that keeps the rules of ``DESIGN.md`` while other requests overlap:

1. read the old key: gone means try the next older secret (and, after the last, the new
   key once more: another request may have moved the session since); other bytes than
   the caller's base are a conflict to merge into (nothing is written);
2. create the new key (SET NX): a reader finds the session under one key or the other,
   never under neither, so nobody is logged out; if it exists, another request moved the
   session first and this write becomes a compare-and-set against its value;
3. delete the old key only if it still holds the base (compare-and-set with an empty
   value, the transport's conditional delete);
4. if the old key went meanwhile (logout), the new key is deleted too: a deleted session
   stays deleted. If a writer that does not know the newest secret yet changed it, the new
   copy is withdrawn if untouched and its value is the conflict to merge into.

A fleet half rotated (servers on ``[new, old]`` beside servers on ``[old, new]``) moves a
session both ways: after step 1 found no older key, the last look at the new key can find it
gone because another server moved it back meanwhile. So a write takes "gone" for an answer
only when a whole round (older keys, then the newest) finds nothing, ``MOVE_ROUNDS`` times
(``hashed_keys.py``); every look only acts on a key holding the caller's base, so a logout
still ends the session and nothing is recreated.
"""

from collections.abc import Callable
from typing import Any

from ..codec.wire import as_bytes
from ..transport.base import Transport
from .hashed_keys import MOVE_ROUNDS
from .results import GONE, WRITTEN, WriteOutcome, WriteStatus


class KeyMovesMixin:
    """``RedisStore._move``: compare-and-set from an older handle to the newest."""

    _transport: Transport
    _older: Callable[[str], tuple[str, ...]]
    _compare_and_set: Callable[[str, bytes, bytes, int | None], WriteOutcome]
    _create: Callable[[str, bytes, int | None], bool]
    _forget: Callable[..., None]

    def _move(
        self, key: str, handle: str, expected: bytes, stored: bytes, expire_s: int | None = None
    ) -> WriteOutcome:
        """``compare_and_set`` after the newest ``handle`` had no key: ``expected`` and
        ``stored`` are as Redis holds them (``stored`` empty: delete the session); ``expire_s``
        is the write's own expiry (``max_lifetime``), or None for the namespace's."""
        older = self._older(key)
        for _ in range(MOVE_ROUNDS):
            outcome = self._move_once(older, handle, expected, stored, expire_s)
            if outcome is not None:
                return outcome
        return GONE

    def _move_once(
        self, older: tuple[str, ...], handle: str, expected: bytes, stored: bytes, expire_s: int | None
    ) -> WriteOutcome | None:
        """One round: each older key, then the newest; None when none held the session (look
        again), GONE only for a logout that overlapped this move."""
        for old in older:
            if not stored:  # a delete: the session, wherever it is, if unchanged
                outcome = self._compare_and_set(old, expected, stored, None)
                if outcome is GONE:
                    continue
                return outcome
            current: Any = self._transport.read(old)
            if current is None:
                continue
            if as_bytes(current) != expected:
                return WriteOutcome(WriteStatus.CONFLICT, current)
            if not self._create(handle, stored, expire_s):  # moved by another request first
                return self._compare_and_set(handle, expected, stored, expire_s)
            released = self._compare_and_set(old, expected, b"", None)
            if released is WRITTEN:
                return WRITTEN
            if released is GONE:  # logged out while this moved: the session stays deleted
                try:
                    self._transport.delete(handle)
                finally:
                    self._forget(handle)
                return GONE
            self._compare_and_set(handle, stored, b"", None)  # changed under the older secret
            return released
        # No older key holds it: another request may have moved it since the first try.
        outcome = self._compare_and_set(handle, expected, stored, expire_s)
        return None if outcome is GONE else outcome
