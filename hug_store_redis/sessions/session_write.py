"""Writing a session so that overlapping requests never lose each other's updates.

A modified session is written with ``compare_and_set`` against the exact bytes the request
read. When another request wrote in between, this request's delta (top-level keys it
assigned or deleted) is re-applied to the value Redis now holds, which the conflict reply
carries, and the write is tried again. A key that is gone (logout, rotation, expiry) is
never recreated. New sessions are created with SET NX, so two requests can never share an id.
"""

import enum
import logging
from collections.abc import Callable
from typing import Any

from ..codec import non_finite
from ..codec.wire import as_bytes
from ..errors import CorruptSessionError, short_id
from ..store.redis_store import RedisStore
from .cookies import new_session_id
from .session_delta import Delta, MergeHook, Session

logger = logging.getLogger("hug_store_redis.middleware")

Expiry = int | None | Callable[[Session], int | None]
"""A write's expiry: None for the namespace's, whole seconds, or what a function of the session
each attempt writes says (``max_lifetime``: after a merge, the issue time that won; 0 means
that lifetime has ended, and the attempt deletes the session instead)."""

MAX_ATTEMPTS = 10
"""Compare-and-set attempts per write. With 8 threads on 4 sessions about 20% of writes
conflict and a few need 4-6 retries; 10 leaves room without letting a write spin forever."""


class Saved(enum.Enum):
    WRITTEN = "written"  # this request's changes are in Redis
    DELETED = "deleted"  # the session ended up empty and its key is deleted
    GONE = "gone"  # another request deleted the key (logout, rotation) or it expired: nothing written
    DROPPED = "dropped"  # over max_session_bytes after merging, or out of attempts: logged, nothing written


def save_existing(
    store: RedisStore,
    session_id: str,
    read: bytes | str,
    mine: Any,
    payload: bytes,
    merge: MergeHook | None = None,
    max_session_bytes: int | None = None,
    expire_s: Expiry = None,
) -> Saved:
    """Write ``payload`` (``mine`` encoded; ``b""`` deletes) over the ``read`` bytes, merging on conflict.

    On a key both this request and another changed, this request wins, unless ``merge``
    decides. What this request read is decoded only when a conflict needs it. ``expire_s``:
    the expiry of each attempt, when shorter than the namespace's (``max_lifetime``), or a
    function of the session it writes (a merge may bring an earlier issue time, whose
    lifetime ends sooner than this request's).
    """
    expected = read
    rebase_onto: Callable[[Session], Session] | None = None
    expiry = expire_s if callable(expire_s) else _fixed(expire_s)
    attempt_expire_s = expiry(mine)
    if attempt_expire_s == 0:  # the lifetime ended while this request ran: deleted
        payload = b""
    attempts = 0
    try:
        for _ in range(MAX_ATTEMPTS):
            attempts += 1
            # A delete takes no expiry: after an ended lifetime (0 s left) the store would refuse
            # ``expire_s=0`` (Redis refuses ``EX 0``), turning the end into an error.
            delete_or_expiry = attempt_expire_s if payload else None
            outcome = store.compare_and_set(session_id, expected, payload, expire_s=delete_or_expiry)
            if outcome.written:
                return Saved.WRITTEN if payload else Saved.DELETED
            if outcome.gone:
                return Saved.GONE
            current = outcome.current
            assert current is not None
            # What this request wanted is there, written by another request (a resent write that
            # finds its own bytes is reported written by the transport): the rebase would write the
            # same. A merge hook decides even then: it may count the same change twice over.
            if merge is None and as_bytes(current) == payload:
                return Saved.WRITTEN
            store.note_merge()
            if rebase_onto is None:
                rebase_onto = _rebasing(store.decode(read, session_id), mine, merge)
            merged = rebase_onto(_session_in(store, current, session_id))
            if not isinstance(merged, dict):
                raise TypeError(f"merge must return a dict, not {type(merged).__name__}")
            if merged:
                attempt_expire_s = expiry(merged)
                if attempt_expire_s == 0:  # the lifetime that won has ended: deleted, as its expiry would
                    merged = {}
            payload = _encode_merged(store, merged, session_id) if merged else b""
            if max_session_bytes is not None and len(payload) > max_session_bytes:
                logger.error(
                    "[%s] session %s not saved: %d bytes after merging with a concurrent write "
                    "is over max_session_bytes=%d",
                    store.namespace,
                    short_id(session_id),
                    len(payload),
                    max_session_bytes,
                )
                return Saved.DROPPED
            if as_bytes(current) == payload:  # the merge changes nothing Redis holds
                return Saved.WRITTEN
            expected = current
        logger.error(
            "[%s] session %s not saved: still conflicting with concurrent writes after %d attempts",
            store.namespace,
            short_id(session_id),
            MAX_ATTEMPTS,
        )
        return Saved.DROPPED
    finally:
        if attempts:  # the write_attempts histogram: one observation per session write
            store.note_write_attempts(attempts)


def create(
    store: RedisStore, session_id: str, payload: bytes, old_id: str | None, expire_s: int | None = None
) -> str:
    """Create the session (SET NX), deleting ``old_id`` in the same round trip; the id it got.

    On a collision (an id another session holds: with 256 random bits, practically never)
    another id is drawn, so a request never writes into a session it did not read.
    """
    for _ in range(MAX_ATTEMPTS):
        if old_id is None:
            created = store.create(session_id, payload, expire_s=expire_s)
        else:
            created = store.create_replacing(session_id, payload, old_id, expire_s=expire_s)
        if created:
            return session_id
        logger.warning(
            "[%s] session id %s already taken; drawing another", store.namespace, short_id(session_id)
        )
        session_id = new_session_id()
    raise RuntimeError(f"no free session id after {MAX_ATTEMPTS} attempts: is the random source broken?")


def _fixed(expire_s: int | None) -> Callable[[Session], int | None]:
    return lambda written: expire_s


def _rebasing(base: Session, mine: Session, merge: MergeHook | None) -> Callable[[Session], Session]:
    """What to write over another writer's session; the delta is computed once for every retry."""
    if merge is not None:
        return lambda theirs: merge(base, mine, theirs)
    return Delta(base, mine).apply


def _session_in(store: RedisStore, current: bytes | str, session_id: str) -> dict[str, Any]:
    """The session another writer left; anything that is not one is replaced, with a warning."""
    try:
        theirs = store.decode(current, session_id)
    except CorruptSessionError as error:
        reason = error.reason
    else:
        if isinstance(theirs, dict):
            return theirs
        reason = f"JSON {type(theirs).__name__}, not an object"
    logger.warning(
        "[%s] session %s: concurrent value unreadable (%s); replacing it",
        store.namespace,
        short_id(session_id),
        reason,
    )
    return {}


def _encode_merged(store: RedisStore, merged: dict[str, Any], session_id: str) -> bytes:
    """Strict JSON; NaN or Infinity can only come from a value hug_store_redis 1.0.0 wrote: null."""
    try:
        return store.encode(merged)
    except ValueError:
        if not non_finite.holds(merged):
            raise
    return store.encode(non_finite.cleaned(merged, session_id, store.namespace))


def too_big(store: RedisStore, payload: bytes, session_id: str, limit: int | None) -> bool:
    """Over ``max_session_bytes`` (None: no limit): logged, and the session is not saved."""
    if limit is None or len(payload) <= limit:
        return False
    logger.error(
        "[%s] session %s not saved: %d bytes is over max_session_bytes=%d",
        store.namespace,
        short_id(session_id),
        len(payload),
        limit,
    )
    return True


def encode_session(
    store: RedisStore, session: Any, read: bytes | str | None, session_id: str | None
) -> bytes:
    """Strict JSON. NaN and Infinity a session read from 1.0.0 held are written as null."""
    try:
        return store.encode(session)
    except ValueError:
        if read is None or not non_finite.holds(store.decode(read, session_id or "")):
            raise  # the handler put them there: a bug to report, not data to repair
    return store.encode(non_finite.cleaned(session, session_id or "", store.namespace))
