"""A session only read moves to the newest ``key_secrets`` secret, and is sealed again under the
newest ``encryption_keys`` key, when its lazy touch is due.

Without this, a read slid the expiry on the old key and nothing ever moved it: a session read
often enough stayed under the old secret (or key) for ever, and retiring that secret (step 3 of
a rotation) logged it out. The touch is the moment because it is already a write: a read with
no touch due still writes nothing and stays one round trip, and every session that outlives
one idle expiration on the rotated fleet has been touched or written, so it is under the
newest. A session under the newest secret and key costs nothing more (a comparison of its
first characters, only when its touch is due).

The renewal is a write like any other (``DESIGN.md``): a move (``key_moves.py``) or a
compare-and-set against the exact bytes read, so a session another request changed since is
left to that writer, and one logged out meanwhile stays deleted. It happens once per session:
afterwards the session is found under the newest. A renewal that fails (Redis unreachable) is
counted as an error and tried again at the next touch; the read itself stands.
"""

from collections.abc import Callable
from typing import Any

from ..clients.families import CLIENT_ERRORS
from ..codec.wire import as_bytes
from ..errors import CorruptSessionError
from ..transport.base import Transport
from .results import WRITTEN, WriteOutcome
from .stats import StoreStats


class RenewalsMixin:
    """``RedisStore._renewed`` (after a read whose touch was due) and ``_renew_touched`` (after
    ``touch``, which read nothing)."""

    _transport: Transport
    _stats: StoreStats
    _handle: Callable[[str], str]
    _seal: Callable[[bytes, str], bytes]
    _open: Callable[[Any, str], Any]
    _stale: Callable[[Any], bool]
    _compare_and_set: Callable[[str, bytes, bytes, int | None], WriteOutcome]
    _move: Callable[..., WriteOutcome]
    _rotating_seals: bool

    def _renewed(self, key: str, found: str, stored: bytes | str, expire_s: int | None = None) -> bytes | str:
        """The bytes Redis now holds for ``key`` if this moved or sealed them again, else ``stored``
        (found under ``found``): a caller's compare-and-set base stays what Redis holds."""
        newest = self._handle(key)
        if found == newest and not self._stale(stored):
            return stored
        try:
            expected = as_bytes(stored)
            fresh = as_bytes(self._seal(as_bytes(self._open(stored, key)), key))
            if found == newest:
                outcome = self._compare_and_set(newest, expected, fresh, expire_s)
            else:
                outcome = self._move(key, newest, expected, fresh, expire_s)
        except CorruptSessionError:  # the caller's decode says so, as for any other read
            return stored
        except CLIENT_ERRORS:  # the read stands; the next touch tries again
            self._stats.count("errors")
            return stored
        return fresh if outcome is WRITTEN else stored

    def _renew_touched(self, key: str, found: str, expire_ms: int | None) -> None:
        """After ``touch`` slid ``found``: under an older secret, or (while ``encryption_keys``
        rotate) under any, read the value once and renew it. Otherwise no round trip."""
        if found == self._handle(key) and not self._rotating_seals:
            return
        try:
            stored = self._transport.read(found)
        except CLIENT_ERRORS:
            self._stats.count("errors")
            return
        if stored is not None:
            expire_s = None if expire_ms is None else max(1, expire_ms // 1000)
            self._renewed(key, found, stored, expire_s)
