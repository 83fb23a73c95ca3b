"""``max_lifetime``: a session ends a fixed time after its id was issued, however active it is.

OWASP's absolute timeout. The idle timeout (the store's ``expiration``, slid by reads) alone
lets a session that is used every few minutes live for ever, and a stolen id with it.

Where the issue time lives, and why there:

- In the stored JSON, as the first top-level key ``ISSUED_KEY``, whole seconds since the
  epoch. The value is what compare-and-set compares and merges carry, so no overlapping
  write can lose it, and reading it costs no round trip and no second key (which a
  Cluster could put on another node).
- Not in the session id: OWASP asks for ids that mean nothing, and an id carrying a time
  would tell anyone holding it how long it stays good.
- Never visible to the app: the middleware takes it out of the dict before the handler
  runs and puts it back on write. Whatever the app stores under that key is ignored, so
  app data (JSON a user sent, copied into the session) cannot extend its own lifetime.
- A session without it (written by 1.0.0, or before the option was set) counts as issued
  at the request that first meets it, which writes it back stamped: one extra write per
  such session, once. Without ``max_lifetime`` nothing is added and bytes stay 1.0.0's.

Redis enforces it too: every write and every touch caps the key's expiry at the remaining
lifetime, so the key is gone at the end even if no request comes. The check on read covers
what the cap cannot: a lifetime lowered since the key was written, clocks of app servers that
disagree. The touch is decided here, after decoding (the read's script cannot see the issue
time inside the value): the read takes one round trip, and a touch that is due sends one
PEXPIRE after it, at most once per ``touch_after`` per session, as often as the lazy touch
writes anyway. A key whose expiry is already capped is never due: a touch could not extend it.
"""

import datetime
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from ..errors import CorruptSessionError, short_id
from ..store.redis_store import RedisStore
from .session_delta import Delta, MergeHook, Session

logger = logging.getLogger("hug_store_redis.middleware")

ISSUED_KEY = "hug_store_redis.issued"
"""The reserved top-level key holding when the session id was issued (epoch seconds)."""

CLOCK_SKEW_S = 60
"""An issue time further in the future than this is no clock drift between app servers but a
value no middleware wrote: the session is treated as corrupt data and ended."""

TTL_ROUNDING_MS = 50
"""A TTL this close above the target is the millisecond rounding of an earlier capped touch,
not a longer expiry: it is left alone rather than touched again on every read."""

ENDED = -1
"""``Lifetime.on_read``'s answer for a session whose lifetime is over."""

MIN_CAPPED_TOUCH_GAIN_MS = 1000
"""A capped expiry is touched only when that gains at least this much (or ``touch_after``):
with ``touch_after=0`` every read would otherwise send a PEXPIRE that moves nothing."""


def lifetime_seconds(max_lifetime: Any, touch_after: float) -> float:
    """Seconds from an int, float or timedelta; a clear error, at start-up, for anything else."""
    if isinstance(max_lifetime, datetime.timedelta):
        seconds: float = max_lifetime.total_seconds()
    elif isinstance(max_lifetime, bool) or not isinstance(max_lifetime, (int, float)):
        raise TypeError(
            "max_lifetime must be seconds (int or float), a timedelta or None, "
            f"not {type(max_lifetime).__name__}"
        )
    else:
        seconds = max_lifetime
    if not math.isfinite(seconds) or seconds < 1:
        raise ValueError(
            f"max_lifetime must be at least 1 second (expiries are whole seconds), got {max_lifetime!r}"
        )
    if seconds < touch_after:
        raise ValueError(
            f"max_lifetime ({seconds:g} s) is shorter than touch_after ({touch_after:g} s): a session "
            "would end before its expiry could slide once; lower touch_after or raise max_lifetime"
        )
    return seconds


class Lifetime:
    """The policy for one middleware: reading, checking and writing back the issue time."""

    __slots__ = ("_clock", "_expiration_ms", "_touch_after_ms", "seconds")

    def __init__(
        self,
        max_lifetime: "float | datetime.timedelta",
        expiration: int | None,
        touch_after: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seconds = lifetime_seconds(max_lifetime, touch_after)
        self._expiration_ms = None if expiration is None else expiration * 1000
        self._touch_after_ms = int(touch_after * 1000)
        self._clock = clock

    def now(self) -> int:
        """An issue time for an id issued now."""
        return int(self._clock())

    def take_issued(self, data: Session, session_id: str) -> int | None:
        """The issue time, removed from ``data``; None for a session that never had one.

        A value no middleware writes (not an int, or far in the future) is corrupt data:
        ``CorruptSessionError``, and the middleware starts a new session.
        """
        issued = data.pop(ISSUED_KEY, None)
        if issued is None:
            return None
        if type(issued) is not int:
            raise CorruptSessionError(session_id, f"{ISSUED_KEY} is {type(issued).__name__}, not an int")
        if issued > self._clock() + CLOCK_SKEW_S:
            raise CorruptSessionError(session_id, f"{ISSUED_KEY} is in the future")
        return issued

    def remaining_s(self, issued: int) -> float:
        """Seconds of the lifetime left; never more than the lifetime (a clock a little ahead)."""
        return min(issued + self.seconds - self._clock(), self.seconds)

    def expire_s(self, issued: int) -> int | None:
        """The EX of a write now: None for the namespace's own, else the whole seconds left.

        0 means the lifetime is over: nothing may be written.
        """
        left = max(math.floor(self.remaining_s(issued)), 0)
        if self._expiration_ms is not None and left * 1000 >= self._expiration_ms:
            return None
        return left

    def expiry(self, issued: int) -> Callable[[Session], int | None]:
        """``expire_s`` for each attempt of a write: from the issue time the session it writes
        carries (after a merge, the earlier of two, so the key never outlives the lifetime that
        won), else ``issued``, this request's."""

        def expire_s(written: Session) -> int | None:
            found = _issued_in(written)
            return self.expire_s(issued if found is None else found)

        return expire_s

    def on_read(self, issued: int, ttl_ms: int) -> int | None:
        """``ENDED`` when under a second is left (as for ``expire_s``), else the PEXPIRE (ms) a
        read should send, or None when no touch is due. One call and one clock read per request.

        While more than the idle expiry is left, the store's rule: slide once fewer than
        ``expiration - touch_after`` remain. Near the end the target is the remaining
        lifetime, and a key already capped there is not due. A key expiring later than
        the target (written before the option, or under a longer lifetime) is capped now.
        """
        left = issued + self.seconds - self._clock()
        if left < 1:
            return ENDED
        left_ms = int(min(left, self.seconds) * 1000)
        if ttl_ms == -2:
            return None
        if self._expiration_ms is not None and self._expiration_ms <= left_ms:
            target, gain = self._expiration_ms, self._touch_after_ms
        else:
            target, gain = left_ms, max(self._touch_after_ms, MIN_CAPPED_TOUCH_GAIN_MS)
        if ttl_ms == -1 or ttl_ms > target + TTL_ROUNDING_MS:  # no expiry, or one past the end
            return target
        return target if ttl_ms < target - gain else None

    def stamped(self, session: Session, issued: int) -> Session:
        """What is written: ``ISSUED_KEY`` first (where reads find it); the app's own value there ignored."""
        written = {ISSUED_KEY: issued, **session}
        written[ISSUED_KEY] = issued
        return written

    def merging(self, merge: MergeHook | None) -> MergeHook:
        """The merge a conflicting write runs: the app's hook (or the default) sees no issue time,
        and the result carries the earlier of this request's and the other writer's."""

        def merged(base: Session, mine: Session, theirs: Session) -> Session:
            # Mine has none when this request emptied the session; theirs, when 1.0.0 wrote it.
            times = [found for found in (_issued_in(mine), _issued_in(theirs)) if found is not None]
            issued = min(times) if times else self.now()
            if self.expire_s(issued) == 0:
                return {}  # the other writer's issue time has ended: the session is deleted
            base, mine, theirs = _without_issued(base), _without_issued(mine), _without_issued(theirs)
            result = Delta(base, mine).apply(theirs) if merge is None else merge(base, mine, theirs)
            if not isinstance(result, dict) or not result:
                return result  # not a dict: save_existing's error; empty: the session is deleted
            return self.stamped(result, issued)

        return merged


def _without_issued(session: Session) -> Session:
    if not isinstance(session, dict):  # a handler's non-dict: the merge reports it as before
        return session
    return {key: value for key, value in session.items() if key != ISSUED_KEY}


def _issued_in(session: Any) -> int | None:
    issued = session.get(ISSUED_KEY) if isinstance(session, dict) else None
    return issued if type(issued) is int else None


def log_ended(store: RedisStore, session_id: str, outcome: str) -> None:
    """One line per session ended by its lifetime, 8 characters of its id at most."""
    logger.info("[%s] session %s reached max_lifetime: %s", store.namespace, short_id(session_id), outcome)
